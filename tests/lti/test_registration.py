"""Dynamic registration (Moodle and Canvas flavours, over HTTP), admin approval, config.json, admin pages."""

from __future__ import annotations

import html

import pytest
import requests
from flask import Flask, jsonify, request
from sqlalchemy import select

from lti_tool.devlms.platform import Platform
from lti_tool.lti.tool_config import SCOPES
from lti_tool.models import Registration

from ..conftest import make_settings
from .conftest import count_rows

REG_TOKEN = "reg-token-123"


class FakeDynamicPlatform:
    """A platform that supports dynamic registration, in Moodle's or Canvas's flavour."""

    def __init__(self, platform: Platform, flavour: str, issuer_override: str | None = None):
        self.platform = platform
        self.flavour = flavour
        self.issuer_override = issuer_override
        self.received: list[dict] = []
        self.config_auth: list[str | None] = []

    def app(self) -> Flask:
        app = Flask("fake-dynreg")
        app.register_blueprint(self.platform.blueprint())
        plat = self.platform
        config_path = ("/mod/lti/openid-configuration.php" if self.flavour == "moodle"
                       else "/api/lti/security/openid-configuration")

        @app.get(config_path)
        def openid_configuration():
            self.config_auth.append(request.headers.get("Authorization"))
            if self.flavour == "canvas" and request.headers.get("Authorization") != f"Bearer {REG_TOKEN}":
                return jsonify(error="unauthorized"), 401
            return jsonify({
                "issuer": self.issuer_override or plat.issuer,
                "authorization_endpoint": plat.auth_login_url,
                "token_endpoint": plat.auth_token_url,
                "jwks_uri": plat.jwks_url,
                "registration_endpoint": plat.url + "/register",
                "authorization_server": plat.auth_token_url if self.flavour == "canvas" else None,
                "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                    "product_family_code": self.flavour, "version": "1.0",
                    "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
                },
            })

        @app.post("/register")
        def register():
            if request.headers.get("Authorization") != f"Bearer {REG_TOKEN}":
                return jsonify(error="bad token"), 401
            body = request.get_json()
            self.received.append(body)
            answer = {**body, "client_id": plat.client_id, "registration_access_token": "secret-rat"}
            tool_conf = dict(body["https://purl.imsglobal.org/spec/lti-tool-configuration"])
            if self.flavour == "moodle":
                tool_conf["deployment_id"] = plat.deployment_id
            answer["https://purl.imsglobal.org/spec/lti-tool-configuration"] = tool_conf
            return jsonify(answer)

        self.config_path = config_path
        return app


@pytest.fixture(params=["moodle", "canvas"])
def dyn(request, tool_server, db, rsa_keys):
    plat = Platform(tool_url=tool_server.url, keys=[rsa_keys[1]], client_id=f"dyn-{request.param}",
                    deployment_id=f"{request.param}-deployment-9")
    fake = FakeDynamicPlatform(plat, request.param)
    with plat.serve(fake.app()):
        yield fake


def _register(tool_server, fake, token=REG_TOKEN):
    return requests.get(tool_server.url + "/lti/register", params={
        "openid_configuration": fake.platform.url + fake.config_path, "registration_token": token}, timeout=10)


def _admin(tool_server, method, path, **kwargs):
    return requests.request(method, tool_server.url + path, timeout=10, allow_redirects=False, **kwargs)


def test_dynamic_registration_pending_until_approved(tool_server, db, dyn):
    resp = _register(tool_server, dyn)
    assert resp.status_code == 200, resp.text
    assert "registered.js" in resp.text
    assert "org.imsglobal.lti.close" in requests.get(tool_server.url + "/static/registered.js", timeout=5).text
    sent = dyn.received[0]
    assert sent["initiate_login_uri"] == tool_server.url + "/lti/login"
    assert sent["redirect_uris"] == [tool_server.url + "/lti/launch"]
    assert sent["jwks_uri"] == tool_server.url + "/.well-known/jwks.json"
    with db.session() as s:
        reg = s.scalars(select(Registration)).one()
        assert reg.status == "pending"
        assert reg.source == "dynamic"
        assert reg.unknown_deployment_policy == "auto_add"
        assert reg.product_family == dyn.flavour
        assert reg.issuer == dyn.platform.issuer
        assert reg.jwks_url == dyn.platform.jwks_url
        deployments = [d.deployment_id for d in reg.deployments]
        assert deployments == ([dyn.platform.deployment_id] if dyn.flavour == "moodle" else [])
        assert "secret-rat" not in str(reg.registration_data)
        reg_id = reg.id
    # Pending: launches are refused with a clear page.
    refused = dyn.platform.launch()
    assert refused.status == 403
    assert "not approved it yet" in refused.html
    # The admin approves on the admin page (open in development without a token).
    assert _admin(tool_server, "POST", f"/admin/registrations/{reg_id}/status",
                  data={"action": "approve"}).status_code == 303
    result = dyn.platform.launch()
    assert result.status == 200, result.html
    with db.session() as s:
        reg = s.get(Registration, reg_id)
        assert [d.deployment_id for d in reg.deployments] == [dyn.platform.deployment_id]  # Canvas: first launch


def test_registering_again_cannot_repoint_a_trusted_registration(tool_server, db, dyn):
    """/lti/register is public: registering an (issuer, client id) again must not swap the login, token or key
    URLs an administrator approved (else anyone who can serve one JSON file on the LMS's host takes it over)."""
    assert _register(tool_server, dyn).status_code == 200
    trusted = {"auth_login_url": "https://lms.example/auth", "auth_token_url": "https://lms.example/token",
               "jwks_url": "https://lms.example/jwks"}
    with db.session() as s:
        reg = s.scalars(select(Registration)).one()
        reg.status = "active"
        for key, value in trusted.items():
            setattr(reg, key, value)
        s.commit()
    resp = _register(tool_server, dyn)
    assert resp.status_code == 409
    text = html.unescape(resp.text)
    assert "already registered" in text
    assert "jwks_uri" in text
    assert "remove the existing registration" in text
    with db.session() as s:
        reg = s.scalars(select(Registration)).one()
        assert {k: getattr(reg, k) for k in trusted} == trusted
        assert reg.status == "active"
        # the same endpoints again (the admin retried): accepted, the admin's decision kept
        reg.auth_login_url, reg.auth_token_url = dyn.platform.auth_login_url, dyn.platform.auth_token_url
        reg.jwks_url = dyn.platform.jwks_url
        s.commit()
    assert _register(tool_server, dyn).status_code == 200
    with db.session() as s:
        assert s.scalars(select(Registration)).one().status == "active"
    assert dyn.platform.launch().status == 200


def test_dynamic_registration_does_not_follow_redirects(tool_server, db, rsa_keys):
    plat = Platform(tool_url=tool_server.url, keys=[rsa_keys[1]], client_id="x")
    fake = FakeDynamicPlatform(plat, "moodle")
    app = fake.app()
    app.add_url_rule("/go", "go", lambda: ("", 302, {"Location": plat.url + fake.config_path}))
    with plat.serve(app):
        resp = requests.get(tool_server.url + "/lti/register", params={
            "openid_configuration": plat.url + "/go", "registration_token": REG_TOKEN}, timeout=10)
    assert resp.status_code == 502
    assert "redirects" in html.unescape(resp.text)
    assert fake.config_auth == []
    assert not fake.received
    with db.session() as s:
        assert s.scalars(select(Registration)).all() == []


def test_dynamic_registration_caps_the_registrations_waiting_for_approval(tool_server, db, dyn, monkeypatch):
    from lti_tool.lti import dynamic_registration

    assert _register(tool_server, dyn).status_code == 200
    monkeypatch.setattr(dynamic_registration, "MAX_PENDING", 1)
    fetched = len(dyn.config_auth)
    resp = _register(tool_server, dyn)
    assert resp.status_code == 429
    assert "waiting for an administrator" in html.unescape(resp.text)
    assert len(dyn.config_auth) == fetched  # refused before anything is fetched
    # a pending registration nobody approved within a week no longer holds the cap
    import datetime as dt

    with db.session() as s:
        reg = s.scalars(select(Registration)).one()
        reg.created_at = reg.created_at - dt.timedelta(days=8)
        s.commit()
    assert _register(tool_server, dyn).status_code == 200
    with db.session() as s:
        fresh = s.scalars(select(Registration)).one()
        assert fresh.status == "pending"
        assert (dt.datetime.now(dt.UTC) - fresh.created_at.replace(tzinfo=dt.UTC)).days == 0


def test_dynamic_registration_refuses_issuer_on_another_host(tool_server, db, rsa_keys):
    plat = Platform(tool_url=tool_server.url, keys=[rsa_keys[1]], client_id="x")
    fake = FakeDynamicPlatform(plat, "moodle", issuer_override="https://evil.example")
    with plat.serve(fake.app()):
        resp = _register(tool_server, fake)
    assert resp.status_code == 400
    assert "not on the host" in html.unescape(resp.text)
    assert not fake.received
    assert count_rows(db)["deployments"] == 0


def test_dynamic_registration_reports_a_refused_token(tool_server, db, rsa_keys):
    plat = Platform(tool_url=tool_server.url, keys=[rsa_keys[1]], client_id="x")
    fake = FakeDynamicPlatform(plat, "canvas")
    with plat.serve(fake.app()):
        resp = _register(tool_server, fake, token="wrong")
    assert resp.status_code == 502
    assert "HTTP 401" in resp.text
    assert "wrong" not in resp.text


def test_canvas_config_json(tool_server):
    config = requests.get(tool_server.url + "/lti/config.json", timeout=5).json()
    assert config["oidc_initiation_url"] == tool_server.url + "/lti/login"
    assert config["target_link_uri"] == tool_server.url + "/lti/launch"
    assert config["public_jwk_url"] == tool_server.url + "/.well-known/jwks.json"
    assert set(config["scopes"]) == set(SCOPES)
    placements = {p["placement"]: p for p in config["extensions"][0]["settings"]["placements"]}
    assert placements["course_navigation"]["message_type"] == "LtiResourceLinkRequest"
    assert placements["assignment_selection"]["message_type"] == "LtiDeepLinkingRequest"
    assert placements["link_selection"]["message_type"] == "LtiDeepLinkingRequest"
    assert config["title"]
    assert "custom_fields" in config


@pytest.fixture
def admin_app(database_url, db, tmp_path):
    from lti_tool.app import create_app

    return create_app(make_settings(database_url, tmp_path, base_url="https://tool.example",
                                   admin_token="admin-token-0123456789"), database=db)


def test_admin_pages_stay_off_in_production_with_a_blank_token(database_url, db, tmp_path, monkeypatch):
    from lti_tool.app import create_app

    monkeypatch.setenv("ADAPTIVE_LTI_ADMIN_TOKEN", "")  # what compose passes when the operator set none
    app = create_app(make_settings(database_url, tmp_path, env="production", base_url="https://tool.example",
                                   secret_key="p" * 40), database=db)
    client = app.test_client()
    assert client.get("/admin/", headers={"Authorization": "Bearer "}).status_code == 404
    assert client.post("/admin/login", data={"token": ""}).status_code == 404
    assert "Set-Cookie" not in client.post("/admin/login", data={"token": ""}).headers


def test_admin_pages_need_the_token(admin_app, db, platform):
    client = admin_app.test_client()
    assert client.get("/admin/").status_code == 401
    assert client.get("/admin/", headers={"Accept": "text/html"}).status_code == 302
    assert client.get("/admin/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/admin/", headers={"Authorization": "Bearer admin-token-0123456789"})
    assert ok.status_code == 200
    assert platform.issuer in ok.get_data(as_text=True)
    assert client.post("/admin/login", data={"token": "nope"}).status_code == 401
    login = client.post("/admin/login", data={"token": "admin-token-0123456789"})
    assert login.status_code == 302
    cookie = login.headers["Set-Cookie"]
    assert "SameSite=Strict" in cookie
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "admin-token-0123456789" not in cookie
    urls = client.get("/admin/urls")
    assert urls.status_code == 200
    page = urls.get_data(as_text=True)
    for path in ("/lti/login", "/lti/launch", "/.well-known/jwks.json", "/lti/register", "/lti/config.json"):
        assert "https://tool.example" + path in page
    with db.session() as s:
        reg_id = s.scalars(select(Registration)).one().id
    assert client.post(f"/admin/registrations/{reg_id}/status", data={"action": "disable"}).status_code == 303
    assert client.post(f"/admin/registrations/{reg_id}/policy", data={"policy": "auto_add"}).status_code == 303
    with db.session() as s:
        reg = s.get(Registration, reg_id)
        assert reg.status == "disabled"
        assert reg.unknown_deployment_policy == "auto_add"
    # a sibling host of the same site (the LMS's) is same-site for the cookie: its Origin is refused
    for header in ({"Origin": "https://moodle.example"}, {"Origin": "null"},
                   {"Referer": "https://moodle.example/course/view.php"}):
        forged = client.post(f"/admin/registrations/{reg_id}/status", data={"action": "approve"}, headers=header)
        assert forged.status_code == 403, header
    with db.session() as s:
        assert s.get(Registration, reg_id).status == "disabled"
    same = client.post(f"/admin/registrations/{reg_id}/status", data={"action": "approve"},
                       headers={"Origin": "https://tool.example"})
    assert same.status_code == 303
    client.post("/admin/logout")
    assert client.get("/admin/urls").status_code == 401


def test_admin_pages_off_in_production_without_token(database_url, db, tmp_path):
    from lti_tool.app import create_app

    app = create_app(make_settings(database_url, tmp_path, env="production", base_url="https://tool.example"),
                     database=db)
    client = app.test_client()
    try:
        assert client.get("/admin/").status_code == 404
        assert client.get("/admin/login").status_code == 404
    finally:  # a production app starts the in-process jobs thread on its first request: stop it before cleanup
        app.extensions["jobs"].stop()
