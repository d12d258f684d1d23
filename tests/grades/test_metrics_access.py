"""/metrics access: a bearer token when ADAPTIVE_LTI_METRICS_TOKEN is set, 404 in production without one."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def make_client(database_url, db, tmp_path):
    """A test client of an app built with the given settings; a production app starts the in-process jobs thread
    on its first request, so every app's runtime is stopped before the database is cleaned."""
    from lti_tool.app import create_app

    apps = []

    def build(**overrides):
        app = create_app(make_settings(database_url, tmp_path, **overrides), database=db)
        apps.append(app)
        return app.test_client()

    yield build
    for app in apps:
        app.extensions["jobs"].stop()


def test_metrics_open_in_development_without_a_token(client):
    res = client.get("/metrics")
    assert res.status_code == 200
    assert "adaptive_lti_score_outbox_failed 0" in res.text


@pytest.mark.parametrize("env", ["test", "production"])
def test_metrics_need_the_bearer_token_when_set(make_client, env):
    client = make_client(env=env, base_url="https://tool.example", metrics_token=TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        res = client.get("/metrics", headers=headers)
        assert res.status_code == 401, headers
        assert res.headers["WWW-Authenticate"].startswith("Bearer")
        assert "adaptive_lti" not in res.text
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert ok.headers["Content-Type"].startswith("text/plain")
    assert "adaptive_lti_score_outbox_oldest_pending_seconds" in ok.text


def test_metrics_disabled_in_production_without_a_token(make_client):
    client = make_client(env="production", base_url="https://tool.example")
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404
