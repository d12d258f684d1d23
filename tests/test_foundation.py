"""Settings, migrations, keys and the platform CLI."""

from __future__ import annotations

import datetime as dt
import json

import jwt
import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from lti_tool import migrate
from lti_tool.cli import main
from lti_tool.models import ItemBank, Registration, ToolKey
from lti_tool.services import crypto, keys
from lti_tool.services.engine import bank_registry
from lti_tool.settings import ConfigError, Settings

from .conftest import TEST_SECRET


def test_production_refuses_missing_keys(tmp_path):
    s = Settings(env="production", base_url="http://tool.example", instance_path=tmp_path)
    with pytest.raises(ConfigError) as err:
        s.check()
    msg = str(err.value)
    assert "ADAPTIVE_LTI_DATABASE_URL" in msg
    assert "ADAPTIVE_LTI_SECRET_KEY" in msg
    assert "https" in msg


def test_production_accepts_complete_config(tmp_path):
    Settings(
        env="production", base_url="https://tool.example", secret_key="s" * 40,
        database_url="postgresql://x@y/z", instance_path=tmp_path,
    ).check()


def test_blank_tokens_are_unset_and_short_ones_refused_in_production(monkeypatch, tmp_path):
    """compose's ``${ADAPTIVE_LTI_ADMIN_TOKEN:-}`` passes an empty string: that must mean "no token" (the admin
    pages off in production), never a token that an empty bearer header matches."""
    monkeypatch.setenv("ADAPTIVE_LTI_ADMIN_TOKEN", "")
    monkeypatch.setenv("ADAPTIVE_LTI_METRICS_TOKEN", "")
    monkeypatch.setenv("ADAPTIVE_LTI_SECRET_KEY", "")
    s = Settings(instance_path=tmp_path)
    assert s.admin_token is None
    assert s.metrics_token is None
    assert s.secret_key is None
    assert Settings(instance_path=tmp_path, admin_token="   ").admin_token is None
    complete = {"env": "production", "base_url": "https://tool.example", "secret_key": "s" * 40,
                "database_url": "postgresql://x@y/z", "instance_path": tmp_path}
    with pytest.raises(ConfigError) as err:
        Settings(**complete, admin_token="short", metrics_token="m" * 16).check()
    assert "ADAPTIVE_LTI_ADMIN_TOKEN must be at least 16 characters" in str(err.value)
    assert "METRICS_TOKEN" not in str(err.value)
    Settings(**complete, admin_token="a" * 16, metrics_token="m" * 16).check()


def test_bad_values_are_one_config_error_naming_each_variable(monkeypatch, tmp_path):
    from lti_tool.settings import load_settings

    monkeypatch.setenv("ADAPTIVE_LTI_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("ADAPTIVE_LTI_JWT_LEEWAY_SECONDS", "100")
    monkeypatch.setenv("ADAPTIVE_LTI_PRACTICE_BAND", "0.9-0.2")
    with pytest.raises(ConfigError) as err:
        load_settings()
    lines = str(err.value).splitlines()
    assert lines[0] == "Invalid configuration:"
    assert "ADAPTIVE_LTI_JWT_LEEWAY_SECONDS: Input should be less than or equal to 60 (got '100')" in lines[1]
    assert "ADAPTIVE_LTI_PRACTICE_BAND: expected LOW-HIGH with 0 <= LOW < HIGH <= 1 (got '0.9-0.2')" in lines[2]
    monkeypatch.setenv("ADAPTIVE_LTI_JWT_LEEWAY_SECONDS", "5")
    monkeypatch.setenv("ADAPTIVE_LTI_PRACTICE_BAND", "0.55-0.75")
    assert load_settings().practice_band == "0.55-0.75"


def test_env_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("ADAPTIVE_LTI_BASE_URL", "https://a.example/")
    monkeypatch.setenv("ADAPTIVE_LTI_INSTANCE_PATH", str(tmp_path))
    s = Settings()
    assert s.base_url == "https://a.example"
    assert s.https
    assert s.resolved_database_url.startswith("sqlite:///")


def test_dev_secret_is_generated_once(tmp_path):
    s = Settings(instance_path=tmp_path)
    assert s.secret() == s.secret()
    assert len(s.secret()) >= 32


def test_migrations_from_empty_to_head_and_no_drift(database_url, db):
    tables = set(inspect(db.engine).get_table_names())
    assert {"registrations", "deployments", "tool_keys", "users", "contexts"} <= tables
    migrate.check(database_url)  # raises on drift


def test_keys_encrypted_at_rest_and_rotation_keeps_old_public_key(db):
    with db.session() as s:
        first = keys.ensure_active_key(s, TEST_SECRET)
        assert b"PRIVATE KEY" not in first.private_key_encrypted
        token = keys.sign_jwt(s, TEST_SECRET, {"hello": "world"})
        assert jwt.get_unverified_header(token)["kid"] == first.kid
        new, retired = keys.rotate(s, TEST_SECRET, dt.timedelta(days=7))
        published = {k["kid"] for k in keys.jwks(s)["keys"]}
        assert published == {first.kid, new.kid}
        assert retired[0].kid == first.kid
    with db.session() as s:
        old = s.query(ToolKey).filter_by(kid=first.kid).one()
        old.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with db.session() as s:
        assert {k["kid"] for k in keys.jwks(s)["keys"]} == {new.kid}
        keys.purge_expired(s)
    with db.session() as s, pytest.raises(crypto.DecryptionError):
        keys.signing_key(s, "another-secret-entirely-0123456789abcdef")


def _run(args, database_url, tmp_path):
    env = {"ADAPTIVE_LTI_DATABASE_URL": database_url, "ADAPTIVE_LTI_SECRET_KEY": TEST_SECRET,
           "ADAPTIVE_LTI_INSTANCE_PATH": str(tmp_path)}
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_platform_cli_add_list_remove(database_url, db, tmp_path):
    add = ["platform", "add", "--issuer", "https://canvas.instructure.com", "--client-id", "1000",
           "--auth-login-url", "https://sso.canvaslms.com/api/lti/authorize_redirect",
           "--auth-token-url", "https://sso.canvaslms.com/login/oauth2/token",
           "--jwks-url", "https://sso.canvaslms.com/api/lti/security/jwks",
           "--deployment-id", "d1", "--deployment-id", "d2", "--name", "School A"]
    assert _run(add, database_url, tmp_path).exit_code == 0
    # Same issuer, other client id: a second school on hosted Canvas.
    add2 = list(add)
    add2[add2.index("1000")] = "2000"
    assert _run(add2, database_url, tmp_path).exit_code == 0
    dup = _run(add, database_url, tmp_path)
    assert dup.exit_code != 0
    assert "already exists" in dup.output
    listed = json.loads(_run(["platform", "list", "--json"], database_url, tmp_path).output)
    assert [r["client_id"] for r in listed] == ["1000", "2000"]
    assert listed[0]["deployment_ids"] == ["d1", "d2"]
    # each school has a bank with a trained engine (a registry folder under the instance's models/)
    registries, owners = {}, {}
    with db.session() as s:
        for reg in s.query(Registration):
            owners[reg.client_id] = reg.id
            bank = ItemBank(slug="fractions", title="Fractions", registration_id=reg.id)
            s.add(bank)
            s.flush()
            registries[reg.client_id] = bank_registry(tmp_path / "models", bank)
    for path in registries.values():
        path.mkdir(parents=True)
        (path / "champion.json").write_text("{}")
    res = _run(["platform", "remove", "--issuer", "https://canvas.instructure.com", "--client-id", "1000", "--yes"],
               database_url, tmp_path)
    assert res.exit_code == 0
    assert "1 item bank(s), 1 trained engine folder(s)" in res.output
    listed = json.loads(_run(["platform", "list", "--json"], database_url, tmp_path).output)
    assert [r["client_id"] for r in listed] == ["2000"]
    # the removed school's engine is gone with its bank (a later bank reusing the id must not find it); not the other
    assert not registries["1000"].exists()
    assert (registries["2000"] / "champion.json").is_file()
    with db.session() as s:
        assert [b.registration_id for b in s.query(ItemBank)] == [owners["2000"]]


def test_platform_add_rejects_bad_url(database_url, db, tmp_path):
    res = _run(["platform", "add", "--issuer", "https://x.example", "--client-id", "c", "--auth-login-url", "nope",
                "--auth-token-url", "https://x.example/t", "--jwks-url", "https://x.example/j"], database_url, tmp_path)
    assert res.exit_code != 0
    assert "auth login URL must be an absolute" in res.output


def test_request_ids_from_a_proxy_are_kept_only_when_plain(app):
    from flask import g

    app.add_url_rule("/t/rid", "rid", lambda: g.request_id)
    client = app.test_client()
    assert client.get("/t/rid", headers={"X-Request-Id": "req-7f3a:2"}).text == "req-7f3a:2"
    for bad in ("x" * 5000, "<script>alert(1)</script>", "two words", ""):
        got = client.get("/t/rid", headers={"X-Request-Id": bad}).text
        assert got != bad
        assert len(got) == 32  # one of ours (uuid4 hex) instead


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_doctor_reports_missing_key_and_then_ok(database_url, db, tmp_path):
    res = _run(["doctor"], database_url, tmp_path)
    assert res.exit_code == 1
    assert "[FAIL] an active signing key exists" in res.output
    with db.session() as s:
        keys.ensure_active_key(s, TEST_SECRET)
    res = _run(["doctor"], database_url, tmp_path)
    assert "[ok] the signing key decrypts" in res.output
    assert res.exit_code == 0, res.output


def test_doctor_detects_wrong_secret(database_url, db, tmp_path):
    with db.session() as s:
        keys.ensure_active_key(s, "a-different-secret-key-0123456789-abcdefgh")
    res = _run(["doctor"], database_url, tmp_path)
    assert res.exit_code == 1
    assert "[FAIL] the signing key decrypts" in res.output


def test_every_migration_downgrades_and_upgrades_again(database_url, db):
    """The chain is linear (one head) and every step goes down and up on this backend."""
    assert len(migrate.current_heads()) == 1
    migrate.downgrade(database_url, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(database_url)
    migrate.check(database_url)


def test_cli_help_lists_every_command(tmp_path):
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    for command in ("db", "platform", "keys", "serve", "doctor", "worker", "items", "kt", "dev"):
        assert f"  {command} " in res.output, command
