"""LTI client-side storage (lti-cs-oidc, lti-pm-s) in a real browser: Debian's Chromium, driven by Playwright.

The simulated platform's page (``/storage_course``) embeds the tool in an iframe next to its storage frame
``post_message_forwarding``, which answers ``lti.put_data`` / ``lti.get_data`` for the tool's origin only. The
tool's login page stores state and nonce there; its launch page shows itself only after reading them back. No
cookie is set or sent on the way: the launch does not rely on the state cookie.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select

from lti_tool.models import LaunchRecord, LoginState

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 20000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)"),
]


@pytest.fixture(scope="module")
def browser(database_url):
    if "postgresql" in database_url:
        pytest.skip("the browser tests run once (SQLite); the server side is covered on PostgreSQL elsewhere")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context()
    try:
        yield ctx
    finally:
        ctx.close()


def _origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def _open(context, platform, query: str = ""):
    page = context.new_page()
    requests_to_tool: list = []
    page.on("request", lambda r: requests_to_tool.append(r) if r.url.startswith(platform.tool_url) else None)
    page.goto(f"{platform.url}/storage_course?role=student{query}")
    return page, page.frame_locator("iframe[name=tool]"), requests_to_tool


def test_launch_completes_through_post_message_storage_without_cookies(context, platform, db):
    page, tool, requests_to_tool = _open(context, platform)
    tool.locator("main#content:not([hidden])").wait_for(state="visible", timeout=TIMEOUT_MS)
    assert tool.locator("#lti-storage-status").count() == 0
    frame = page.frame(name="tool")
    assert frame.evaluate("window.adaptiveLti.token()")
    check = json.loads(frame.evaluate("document.getElementById('lti-storage-check').textContent"))
    assert check["target"] == "post_message_forwarding"
    assert check["origin"] == platform.url
    assert check["state"].startswith("c")  # the client-side storage kind of state: never checked by cookie
    stored = page.frame(name="post_message_forwarding").evaluate("window.ltiStore")
    assert stored == {_origin(platform.tool_url): {"state_" + check["state"]: check["state"],
                                                    "nonce_" + check["nonce"]: check["nonce"]}}
    # No cookie jar was needed: the tool set none, and no request to it carried one.
    assert context.cookies() == []
    assert [r.url for r in requests_to_tool if "cookie" in r.all_headers()] == []
    assert any(r.url.endswith("/lti/launch") and r.method == "POST" for r in requests_to_tool)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(LaunchRecord)) == 1
        assert s.get(LoginState, check["state"]) is None  # used once


def test_tampered_stored_state_makes_the_launch_fail(context, platform):
    page, tool, _ = _open(context, platform, "&tamper=1")
    status = tool.locator("#lti-storage-status")
    status.filter(has_text="could not be confirmed").wait_for(timeout=TIMEOUT_MS)
    assert "mismatch" in status.inner_text()
    assert tool.locator("main#content").is_hidden()
    assert page.frame(name="tool").evaluate("window.adaptiveLti.token()") is None  # the API is unusable too


def test_login_does_not_continue_when_the_platform_frame_does_not_answer(context, platform, db):
    page, tool, requests_to_tool = _open(context, platform, "&accept_origin=http://other.invalid")
    tool.locator("#status").filter(has_text="did not store this login").wait_for(timeout=TIMEOUT_MS)
    refused = page.frame(name="post_message_forwarding").evaluate("window.ltiRefused")
    assert _origin(platform.tool_url) in refused  # the platform saw the tool's messages and did not answer
    assert not any(r.url.endswith("/lti/launch") for r in requests_to_tool)  # never went on to the platform
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(LaunchRecord)) == 0


def test_storage_messages_go_to_the_platform_origin_only(context, platform):
    """The tool posts with the OIDC origin as targetOrigin: a frame of the same name on another origin (here the
    same server reached as ``localhost``) never receives the data, so the login does not go on."""
    page = context.new_page()
    other = platform.url.replace("127.0.0.1", "localhost")
    page.set_content(
        f'<iframe name="post_message_forwarding" src="{other}/storage_frame?accept_origin='
        f'{_origin(platform.tool_url)}"></iframe><iframe name="tool"></iframe>')
    page.frame(name="post_message_forwarding").wait_for_load_state()
    page.evaluate("url => { document.querySelector('iframe[name=tool]').src = url; }",
                  platform.launch_url_for_browser("student", storage_target="post_message_forwarding"))
    tool = page.frame_locator("iframe[name=tool]")
    tool.locator("#status").filter(has_text="did not store this login").wait_for(timeout=TIMEOUT_MS)
    assert page.frame(name="post_message_forwarding").evaluate("window.ltiStore") == {}
