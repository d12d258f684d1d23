"""LTI client-side postMessage storage (lti_storage_target): the server side of the flow."""

from __future__ import annotations

import json
import re

import requests

from lti_tool.devlms.platform import STUDENT, LaunchSpec


def test_login_with_storage_target_uses_post_message_not_a_cookie(platform, http):
    hint = platform.new_spec(LaunchSpec())
    resp = http.post(platform.tool_url + "/lti/login", data=platform.login_params(
        hint, lti_storage_target="post_message_forwarding", deployment_id=platform.deployment_id))
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers
    data = json.loads(re.search(r'id="lti-login">(.*?)</script>', resp.text, re.S).group(1))
    storage = data["storage"]
    assert storage["target"] == "post_message_forwarding"
    assert storage["origin"] == platform.url  # postMessage goes to the platform's OIDC origin only
    assert f"state={storage['state']}" in data["redirect"]
    assert f"nonce={storage['nonce']}" in data["redirect"]
    assert data["redirect"].startswith(platform.auth_login_url)
    script = requests.get(platform.tool_url + "/static/login_storage.js", timeout=5).text
    assert "lti.put_data" in script


def test_launch_after_storage_login_is_checked_client_side_before_showing(platform, http):
    result = platform.launch(STUDENT, http=http, storage_target="_parent")
    assert result.status == 200, result.html
    assert not [c for c in http.cookies if c.name.startswith("lti_state_")]
    assert 'data-lti-storage-check="1"' in result.html
    assert re.search(r'<main id="content" hidden', result.html)
    check = json.loads(re.search(r'id="lti-storage-check">(.*?)</script>', result.html, re.S).group(1))
    assert check == {"target": "_parent", "state": result.state, "nonce": result.nonce, "origin": platform.url}
    script = requests.get(platform.tool_url + "/static/app.js", timeout=5).text
    assert "lti.get_data" in script


def test_cookie_login_launch_shows_page_directly(platform):
    result = platform.launch(STUDENT)
    assert "data-lti-storage-check" not in result.html
    assert '<main id="content">' in result.html
