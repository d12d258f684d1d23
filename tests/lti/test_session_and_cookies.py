"""Session tokens (Bearer, 401/403) and the state cookie's attributes over http and https."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import jwt
import pytest
from flask import jsonify

from lti_tool.devlms.platform import INSTRUCTOR, STUDENT
from lti_tool.lti.session import (
    LtiSession,
    SessionTokenError,
    current_session,
    issue_token,
    require_session,
    verify_token,
)
from lti_tool.services import registrations

from ..conftest import TEST_SECRET, make_settings

SESSION = LtiSession(
    launch_id="l1", registration_id=1, deployment_id=1, user_id=1, context_id=1, resource_link_id=None,
    roles=("Learner",), is_instructor=False, is_learner=True, is_test_user=False, locale=None,
    message_type="LtiResourceLinkRequest",
)


def test_token_round_trip_expiry_and_forgery():
    token = issue_token(SESSION, secret=TEST_SECRET, ttl_seconds=60)
    verified = verify_token(token, secret=TEST_SECRET)
    assert dataclasses.replace(verified, issued_at=0.0) == SESSION
    assert abs(verified.issued_at - time.time()) < 5  # the token's iat, kept for the registration check
    with pytest.raises(SessionTokenError, match="expired"):
        verify_token(issue_token(SESSION, secret=TEST_SECRET, ttl_seconds=-1), secret=TEST_SECRET)
    # Signed with the raw SECRET_KEY instead of the derived key: not ours.
    forged = jwt.encode({"iss": "adaptive-lti", "aud": "adaptive-lti-session", "iat": int(time.time()),
                         "exp": int(time.time()) + 60, "lti": SESSION.to_claims()}, TEST_SECRET)
    with pytest.raises(SessionTokenError, match="invalid"):
        verify_token(forged, secret=TEST_SECRET)
    with pytest.raises(SessionTokenError):
        verify_token(token[:-2] + "xx", secret=TEST_SECRET)


def _app_with_routes(app):
    @app.get("/t/learner")
    @require_session(learner=True)
    def learner_view():
        return jsonify(user=current_session().user_id)

    @app.get("/t/instructor")
    @require_session(instructor=True)
    def instructor_view():
        return jsonify(user=current_session().user_id)

    return app.test_client()


def _registered_session(db) -> LtiSession:
    """SESSION with the ids of a real (active) registration and deployment."""
    with db.session() as s:
        reg = registrations.add(s, issuer="https://lms.example", client_id="c1",
                                auth_login_url="https://lms.example/auth", auth_token_url="https://lms.example/token",
                                jwks_url="https://lms.example/jwks", deployment_ids=["d1"])
        s.flush()
        ids = {"registration_id": reg.id, "deployment_id": reg.deployments[0].id}
        s.commit()
    return dataclasses.replace(SESSION, **ids)


def test_decorator_answers_401_and_403_as_json(app, db):
    client = _app_with_routes(app)
    session = _registered_session(db)
    assert client.get("/t/learner").status_code == 401
    assert client.get("/t/learner").get_json()["code"] == "unauthorized"
    bad = client.get("/t/learner", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    expired = issue_token(session, secret=TEST_SECRET, ttl_seconds=-10)
    resp = client.get("/t/learner", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401
    assert "expired" in resp.get_json()["error"]
    other_secret = issue_token(session, secret="another-secret-0123456789abcdef0123", ttl_seconds=60)
    assert client.get("/t/learner", headers={"Authorization": f"Bearer {other_secret}"}).status_code == 401
    token = issue_token(session, secret=TEST_SECRET, ttl_seconds=60)
    ok = client.get("/t/learner", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.get_json() == {"user": 1}
    forbidden = client.get("/t/instructor", headers={"Authorization": f"Bearer {token}"})
    assert forbidden.status_code == 403
    assert "instructor" in forbidden.get_json()["error"]
    assert forbidden.get_json()["code"] == "forbidden"
    teacher = issue_token(dataclasses.replace(session, is_instructor=True, is_learner=False), secret=TEST_SECRET,
                          ttl_seconds=60)
    assert client.get("/t/instructor", headers={"Authorization": f"Bearer {teacher}"}).status_code == 200
    assert client.get("/t/learner", headers={"Authorization": f"Bearer {teacher}"}).status_code == 403
    # an admin disables the registration: its tokens stop at once, not when they expire
    with db.session() as s:
        registrations.disable(s, "https://lms.example", "c1")
        s.commit()
    gone = client.get("/t/learner", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 403
    assert gone.get_json()["code"] == "registration_inactive"
    # a token naming a deployment of another registration is refused too
    alien = issue_token(dataclasses.replace(SESSION, registration_id=session.registration_id + 1000),
                        secret=TEST_SECRET, ttl_seconds=60)
    assert client.get("/t/learner", headers={"Authorization": f"Bearer {alien}"}).status_code == 403
    # SQLite may give a new registration a removed one's id: a token older than the registration it names is not
    # for it (the registration re-enabled, then "created" after the token was issued)
    with db.session() as s:
        registrations.approve(s, "https://lms.example", "c1")
        s.commit()
    assert client.get("/t/learner", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with db.session() as s:
        reg = registrations.get(s, "https://lms.example", "c1")
        reg.created_at = reg.created_at + dt.timedelta(minutes=5)
        s.commit()
    gone = client.get("/t/learner", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 403


def test_launch_token_authenticates_api_calls_without_cookies(platform, http):
    result = platform.launch(STUDENT)
    http.cookies.clear()
    resp = http.get(platform.tool_url + "/lti/api/session", headers={"Authorization": f"Bearer {result.token}"})
    assert resp.status_code == 200
    assert resp.json()["is_learner"] is True
    assert http.get(platform.tool_url + "/lti/api/session").status_code == 401
    # Instructor-only endpoint refuses the student's token
    resp = http.post(platform.tool_url + "/lti/deep_link", headers={"Authorization": f"Bearer {result.token}"})
    assert resp.status_code == 403
    teacher = platform.launch(INSTRUCTOR)
    assert verify_token(teacher.token, secret=TEST_SECRET).is_instructor


def test_state_cookie_over_http_is_not_secure_and_is_deleted_after_launch(platform, http):
    query = platform.start_login(http)
    cookie = next(c for c in http.cookies if c.name.startswith("lti_state_"))
    assert cookie.name == "lti_state_" + query["state"]
    assert not cookie.secure
    result = platform.launch(STUDENT, http=http)
    assert result.status == 200
    set_cookie = result.response.headers.get("Set-Cookie", "")
    assert f"lti_state_{result.state}=;" in set_cookie
    assert all(c.name != "lti_state_" + result.state for c in http.cookies)


def test_state_cookie_over_https_is_samesite_none_secure_partitioned(database_url, db, tmp_path):
    from lti_tool.app import create_app

    app = create_app(make_settings(database_url, tmp_path, base_url="https://tool.example"), database=db)
    with db.session() as s:
        registrations.add(s, issuer="https://lms.example", client_id="c1", auth_login_url="https://lms.example/auth",
                          auth_token_url="https://lms.example/token", jwks_url="https://lms.example/jwks")
    resp = app.test_client().get("/lti/login", query_string={
        "iss": "https://lms.example", "client_id": "c1", "login_hint": "u",
        "target_link_uri": "https://tool.example/lti/launch"})
    assert resp.status_code == 302
    header = resp.headers["Set-Cookie"]
    assert "Secure" in header
    assert "SameSite=None" in header
    assert "Partitioned" in header
    assert "HttpOnly" in header
    http_app = create_app(make_settings(database_url, tmp_path, base_url="http://localhost:5000"), database=db)
    resp = http_app.test_client().get("/lti/login", query_string={
        "iss": "https://lms.example", "client_id": "c1", "login_hint": "u",
        "target_link_uri": "http://localhost:5000/lti/launch"})
    header = resp.headers["Set-Cookie"]
    assert "Secure" not in header
    assert "Partitioned" not in header
    assert "SameSite=Lax" in header
