"""WCAG 2.1 AA: axe-core in headless Chromium finds no violations on the practice page, on a phone-sized iframe
(375 px), before and after answering; keyboard-only use and focus management after feedback.

axe-core is vendored (tests/practice/vendor/axe.min.js, axe-core 4.14.1, MPL-2.0): no network at test time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)"),
]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def axe_violations(page) -> list[dict]:
    page.add_script_tag(content=AXE.read_text())
    return page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")


def open_practice(browser, platform, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(platform.launch_url_for_browser("student"))
    page.wait_for_selector("#item-form:not([hidden])", timeout=20000)
    return context, page


@pytest.mark.parametrize(("width", "height"), [(375, 667), (1024, 768)], ids=["phone", "desktop"])
def test_practice_page_has_no_axe_violations(browser, platform, activity, width, height, database_url):
    if "postgresql" in database_url:
        pytest.skip("the browser test runs once (SQLite); the API tests cover PostgreSQL")
    context, page = open_practice(browser, platform, width, height)
    try:
        violations = axe_violations(page)
        assert violations == [], json.dumps(violations, indent=1)
        # the harness does see violations: an unlabelled input is reported, then removed
        page.evaluate("() => { const i = document.createElement('input'); i.id = 'axe-probe';"
                      " document.querySelector('main').appendChild(i); }")
        assert "label" in {v["id"] for v in axe_violations(page)}
        page.evaluate("() => document.getElementById('axe-probe').remove()")
        # no horizontal scrolling on a phone-sized iframe
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        for _ in range(4):  # several items, so both choice and typed-answer items are checked
            # answer with the keyboard only: focus the first field, type or pick, Enter
            page.focus("#item-form input")
            if page.get_attribute("#item-form input", "type") == "text":
                page.keyboard.type("1")
                page.keyboard.press("Enter")
            else:
                page.keyboard.press("Space")
                page.focus("#check-btn")
                page.keyboard.press("Enter")
            page.wait_for_selector("#feedback:not([hidden])", timeout=20000)
            if _ == 0:  # a count in the right grammatical number
                assert page.inner_text("#answered-text") == "(1 question answered)"
            # focus moved to the announced feedback, and "Next question" follows it
            assert page.evaluate("document.activeElement.id") == "feedback"
            assert page.get_attribute("#feedback", "aria-live") == "assertive"
            assert page.is_visible("#next-btn")
            violations = axe_violations(page)
            assert violations == [], json.dumps(violations, indent=1)
            page.click("#next-btn")
            page.wait_for_selector("#feedback", state="hidden", timeout=20000)
            # focus is on the new question's text
            assert "stem" in (page.evaluate("document.activeElement.className") or "")
            violations = axe_violations(page)
            assert violations == [], json.dumps(violations, indent=1)
        # the mastery table has a row per skill, with the percentage as text (not only a bar)
        rows = page.locator("#mastery-table tbody tr")
        assert rows.count() >= 8
        assert "%" in rows.first.inner_text()
    finally:
        context.close()
