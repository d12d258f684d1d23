"""The admin page's forms in headless Chromium (the test client sends no Origin; a browser does, and a page whose
referrer policy is no-referrer makes it "null", which the same-origin check refuses)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lti_tool.models import Registration

from .test_storage_browser import CHROMIUM, TIMEOUT_MS, browser  # noqa: F401 - browser: the shared fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)"),
]


def test_admin_forms_work_in_a_browser(tool_server, platform, db, browser):  # noqa: F811 - the imported fixture
    page = browser.new_page()
    try:
        refused: list[str] = []
        page.on("response", lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(tool_server.url + "/admin/")  # open in development without a token
        row = page.locator("tr.registration").first
        row.locator("button[value=disable]").click()
        page.wait_for_selector("tr.registration[data-status=disabled]", timeout=TIMEOUT_MS)
        page.locator("tr.registration").first.locator("button[value=enable]").click()
        page.wait_for_selector("tr.registration[data-status=active]", timeout=TIMEOUT_MS)
        row = page.locator("tr.registration").first
        row.locator("select[name=policy]").select_option("auto_add")
        row.locator("form[action$='/policy'] button").click()
        page.wait_for_load_state()
        row = page.locator("tr.registration").first
        row.locator("form[action$='/deployments'] button").click()  # empty: the browser asks for a value
        assert page.evaluate("document.activeElement.name") == "deployment_id"
        row.locator("input[name=deployment_id]").fill("dep-from-admin")
        row.locator("form[action$='/deployments'] button").click()
        page.wait_for_selector("text=dep-from-admin", timeout=TIMEOUT_MS)
        assert refused == []
    finally:
        page.close()
    with db.session() as s:
        reg = s.scalars(select(Registration)).one()
        assert reg.status == "active"
        assert reg.unknown_deployment_policy == "auto_add"
        assert "dep-from-admin" in [d.deployment_id for d in reg.deployments]
