"""Platform JWKS cache (refetch on unknown kid with a cool-down) and the tool's own JWKS with rotation."""

from __future__ import annotations

import datetime as dt

import requests
from sqlalchemy import select, update

from lti_tool.devlms.platform import LaunchSpec
from lti_tool.models import Registration
from lti_tool.services import keys

from ..conftest import TEST_SECRET


def _age_cache(db, seconds: int) -> None:
    with db.session() as s:
        s.execute(update(Registration).values(
            jwks_fetched_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)))


def _launch_with_kid(platform, http, kid):
    spec = LaunchSpec()
    query = platform.start_login(http, spec)
    token = platform.sign(platform.claims_for(spec, query["nonce"]), headers={"kid": kid})
    return platform.post_launch(http, {"id_token": token, "state": query["state"]})


def test_jwks_cached_refetched_once_on_unknown_kid_with_cooldown(platform, http, db, rsa_keys):
    assert platform.launch().status == 200
    assert platform.jwks_fetches == 1
    assert platform.launch().status == 200
    assert platform.jwks_fetches == 1  # cached in the database, shared by every worker
    # Unknown kid right after a fetch: inside the cool-down, no refetch.
    assert _launch_with_kid(platform, http, "unknown-kid").status == 400
    assert platform.jwks_fetches == 1
    # After the cool-down: exactly one refetch, then refused (never "any key").
    _age_cache(db, 120)
    refused = _launch_with_kid(platform, http, "unknown-kid")
    assert refused.status == 400
    assert "does not publish" in refused.html
    assert platform.jwks_fetches == 2
    assert _launch_with_kid(platform, http, "unknown-kid").status == 400
    assert platform.jwks_fetches == 2


def test_platform_key_rotation_is_picked_up(platform, db, rsa_keys):
    assert platform.launch().status == 200
    platform.rotate_key(rsa_keys[1])  # the platform publishes a new key and signs with it
    _age_cache(db, 120)
    assert platform.launch().status == 200
    assert platform.jwks_fetches == 2
    with db.session() as s:
        cached = s.scalars(select(Registration)).one().jwks_cache
        assert {k["kid"] for k in cached["keys"]} == {rsa_keys[0].kid, rsa_keys[1].kid}


def test_stale_cache_is_refreshed(platform, db):
    assert platform.launch().status == 200
    _age_cache(db, 7200)  # older than jwks_cache_seconds
    assert platform.launch().status == 200
    assert platform.jwks_fetches == 2


def test_jwks_fetch_sends_a_user_agent(platform):
    assert platform.launch().status == 200
    assert platform.jwks_user_agents
    assert platform.jwks_user_agents[-1].startswith("adaptive-lti/")


def test_tool_jwks_route_publishes_rotated_keys(tool_server, db):
    with db.session() as s:
        first = keys.ensure_active_key(s, TEST_SECRET)
    resp = requests.get(tool_server.url + "/.well-known/jwks.json", timeout=5)
    assert resp.status_code == 200
    assert "max-age" in resp.headers["Cache-Control"]
    assert [k["kid"] for k in resp.json()["keys"]] == [first.kid]
    assert all("d" not in k for k in resp.json()["keys"])  # never a private part
    with db.session() as s:
        new, _ = keys.rotate(s, TEST_SECRET, dt.timedelta(days=3))
    kids = {k["kid"] for k in requests.get(tool_server.url + "/.well-known/jwks.json", timeout=5).json()["keys"]}
    assert kids == {first.kid, new.kid}
