"""Known-bad launches (lti-pitfalls.md): each refused with a 4xx page saying what is wrong, storing nothing."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import json
import time

import jwt
import pytest
from sqlalchemy import update

from lti_tool.devlms.platform import INSTRUCTOR, REMOVE, LaunchSpec
from lti_tool.lti import claims as c
from lti_tool.models import LoginState, Registration

from ..conftest import TEST_SECRET
from .conftest import count_rows


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_public_key(claims, platform) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": platform.active_kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = hmac.new(platform.key().public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def _alg_none(claims, platform) -> str:
    return jwt.encode(claims, None, algorithm="none", headers={"kid": platform.active_kid})


def _set(**values):
    def mutate(claims):
        for k, v in values.items():
            if v is REMOVE:
                claims.pop(k, None)
            else:
                claims[k] = v
    return mutate


def _not_lti(claims):
    keep = {k: claims[k] for k in ("iss", "aud", "iat", "exp", "nonce", "sub")}
    claims.clear()
    claims.update(keep, hello="world")


def _strip_lti(claims):
    for k in list(claims):
        if k.startswith("https://purl.imsglobal.org/spec/"):
            del claims[k]


NOW = lambda: int(time.time())  # noqa: E731

# (id, how to break it, expected status, words the page must say)
CASES = [
    ("no-kid", {"headers": {"kid": REMOVE}}, 400, "no 'kid'"),
    ("wrong-kid", {"headers": {"kid": "not-a-platform-key"}}, 400, "does not publish"),
    ("wrong-lti-version", {"mutate": _set(**{c.VERSION: "1.1.0"})}, 400, "LTI version is '1.1.0'"),
    ("no-lti-version", {"mutate": _set(**{c.VERSION: REMOVE})}, 400, "no LTI version"),
    ("json-not-lti", {"mutate": _not_lti}, 400, "not an LTI 1.3 message"),
    ("missing-lti-claims", {"mutate": _strip_lti}, 400, "not an LTI 1.3 message"),
    ("expired", {"mutate": lambda cl: cl.update(iat=NOW() - 3600, exp=NOW() - 3000)}, 400, "expired"),
    ("exp-missing", {"mutate": _set(exp=REMOVE)}, 400, "no 'exp'"),
    ("iat-far-future", {"mutate": lambda cl: cl.update(iat=NOW() + 3600, exp=NOW() + 3700)}, 400, "not valid yet"),
    ("message-type-missing", {"mutate": _set(**{c.MESSAGE_TYPE: REMOVE})}, 400, "no message_type"),
    ("message-type-unknown", {"mutate": _set(**{c.MESSAGE_TYPE: "LtiSubmissionReviewRequest"})}, 400,
     "not supported"),
    ("roles-missing", {"mutate": _set(**{c.ROLES: REMOVE})}, 400, "no roles claim"),
    ("deployment-id-missing", {"mutate": _set(**{c.DEPLOYMENT_ID: REMOVE})}, 400, "no deployment_id"),
    ("resource-link-id-missing", {"mutate": lambda cl: cl[c.RESOURCE_LINK].pop("id")}, 400, "resource_link id"),
    ("sub-missing", {"mutate": _set(sub=REMOVE)}, 400, "no 'sub'"),
    ("wrong-iss", {"mutate": _set(iss="https://evil.example")}, 400, "No platform registration"),
    ("wrong-aud", {"mutate": _set(aud="someone-else", azp=REMOVE)}, 400, "No platform registration"),
    ("aud-array-no-azp", {"mutate": lambda cl: (cl.update(aud=[cl["aud"], "other"]), cl.pop("azp"))}, 400,
     "no 'azp'"),
    ("aud-array-wrong-azp", {"mutate": lambda cl: cl.update(aud=[cl["aud"], "other"], azp="other")}, 400,
     "No platform registration"),
    ("azp-not-in-aud", {"mutate": lambda cl: cl.update(aud=[cl["aud"], "other"], azp="third")}, 400,
     "not one of its audiences"),
    ("azp-differs-from-aud", {"mutate": _set(azp="other")}, 400, "differs from its 'aud'"),
    ("unknown-deployment", {"mutate": _set(**{c.DEPLOYMENT_ID: "deployment-unknown"})}, 403,
     "add-deployment"),
    ("nonce-missing", {"mutate": _set(nonce=REMOVE)}, 400, "no nonce"),
    ("nonce-mismatch", {"mutate": _set(nonce="not-the-issued-nonce")}, 400, "nonce is not the one"),
    ("state-missing", {"form": lambda f: f.pop("state")}, 400, "no state"),
    ("state-mismatch", {"form": lambda f: f.update(state="k" + "x" * 40)}, 400, "state is unknown"),
    ("id-token-missing", {"form": lambda f: f.pop("id_token")}, 400, "no id_token"),
    ("alg-none", {"token": _alg_none}, 400, "only RS256"),
    ("hs256-with-public-key", {"token": _hs256_with_public_key}, 400, "only RS256"),
    ("right-kid-other-key", {"other_key": True}, 400, "signature does not verify"),
    ("not-three-parts", {"token": lambda cl, p: "abc.def"}, 400, "three dot-separated parts"),
    ("garbage-jwt", {"token": lambda cl, p: "abc.def.ghi"}, 400, "cannot be decoded"),
    ("student-deep-linking", {"spec": LaunchSpec(message_type=c.DEEP_LINKING_REQUEST)}, 403,
     "Only instructors"),
    ("deep-linking-no-return-url",
     {"spec": LaunchSpec(role=INSTRUCTOR, message_type=c.DEEP_LINKING_REQUEST,
                         deep_link_settings={"deep_link_return_url": REMOVE})}, 400, "deep_link_return_url"),
]


def crafted_launch(platform, http, *, spec=None, mutate=None, headers=None, token=None, form=None,
                   other_key=None, rsa_keys=None):
    spec = spec or LaunchSpec()
    query = platform.start_login(http, spec)
    claims = platform.claims_for(spec, query["nonce"])
    if mutate:
        mutate(claims)
    if token:
        id_token = token(claims, platform)
    elif other_key:
        id_token = platform.sign(claims, key=rsa_keys[1], headers={"kid": platform.active_kid})
    else:
        id_token = platform.sign(claims, headers=headers)
    fields = {"id_token": id_token, "state": query["state"]}
    if form:
        form(fields)
    return platform.post_launch(http, fields), id_token


@pytest.mark.parametrize(("case", "how", "status", "says"), CASES, ids=[c[0] for c in CASES])
def test_known_bad_launch_is_refused_and_stores_nothing(platform, http, db, rsa_keys, case, how, status, says):
    before = count_rows(db)
    result, id_token = crafted_launch(platform, http, rsa_keys=rsa_keys, **how)
    assert result.status == status, result.html
    assert says in html.unescape(result.html)
    assert "text/html" in result.response.headers["Content-Type"]
    assert result.token is None
    assert 'name="adaptive-lti-session"' not in result.html
    assert TEST_SECRET not in result.html
    assert id_token not in result.html
    after = count_rows(db)
    for table in after:
        if table != "login_states":  # the refused login's state is left to expire, never reused
            assert after[table] == before[table], table


def test_replayed_launch_is_refused(platform, http, db):
    spec = LaunchSpec()
    query = platform.start_login(http, spec)
    fields = {"id_token": platform.sign(platform.claims_for(spec, query["nonce"])), "state": query["state"]}
    first = platform.post_launch(http, fields)
    assert first.status == 200
    before = count_rows(db)
    again = platform.post_launch(http, fields)
    assert again.status == 400
    assert "already used" in again.html
    assert count_rows(db) == before


def test_consumed_nonce_is_refused_even_with_a_fresh_state(platform, http, db):
    """The nonce itself is single-use (atomic primary key), not only the state."""
    first = platform.launch()
    assert first.status == 200
    spec = LaunchSpec()
    query = platform.start_login(http, spec)
    # An attacker who somehow got a second state bound to the same nonce still cannot reuse it.
    with db.session() as s:
        s.execute(update(LoginState).where(LoginState.state == query["state"]).values(nonce=first.nonce))
    before = count_rows(db)
    replay = platform.post_launch(http, {"id_token": platform.sign(platform.claims_for(spec, first.nonce)),
                                         "state": query["state"]})
    assert replay.status == 400
    assert "nonce was consumed" in replay.html
    after = count_rows(db)
    assert {k: v for k, v in after.items() if k != "login_states"} == \
        {k: v for k, v in before.items() if k != "login_states"}


def test_expired_login_state_is_refused(platform, http, db):
    spec = LaunchSpec()
    query = platform.start_login(http, spec)
    with db.session() as s:
        s.execute(update(LoginState).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    result = platform.post_launch(http, {"id_token": platform.sign(platform.claims_for(spec, query["nonce"])),
                                         "state": query["state"]})
    assert result.status == 400
    assert "expired" in result.html


def test_clock_skew_within_leeway_is_accepted(platform, http):
    spec = LaunchSpec()
    query = platform.start_login(http, spec)
    claims = platform.claims_for(spec, query["nonce"])
    claims.update(iat=NOW() + 3, exp=NOW() - 3)  # 3 s skew each way, leeway is 5 s
    result = platform.post_launch(http, {"id_token": platform.sign(claims), "state": query["state"]})
    assert result.status == 200, result.html


@pytest.mark.parametrize("status", ["pending", "disabled"])
def test_pending_or_disabled_registration_is_refused_with_a_clear_page(platform, db, status):
    with db.session() as s:
        s.execute(update(Registration).values(status=status))
    result = platform.launch()
    assert result.status == 403
    assert ("not approved it yet" if status == "pending" else "is disabled") in result.html
    assert count_rows(db)["users"] == 0


def test_unknown_deployment_is_auto_added_under_auto_add_policy(platform, db):
    with db.session() as s:
        s.execute(update(Registration).values(unknown_deployment_policy="auto_add"))
    result = platform.launch(claims={c.DEPLOYMENT_ID: "copied-course-deployment"})
    assert result.status == 200, result.html
    assert count_rows(db)["deployments"] == 2


def test_unknown_issuer_login_is_refused(platform, http):
    resp = http.get(platform.tool_url + "/lti/login", params={
        "iss": "https://unknown.example", "login_hint": "x", "target_link_uri": platform.tool_url + "/lti/launch"})
    assert resp.status_code == 400
    assert "No platform registration" in resp.text


def test_login_for_another_tool_is_refused(platform, http):
    resp = http.get(platform.tool_url + "/lti/login", params=platform.login_params(
        "hint", target_link_uri="https://elsewhere.example/launch"))
    assert resp.status_code == 400
    assert "does not point at this tool" in resp.text
