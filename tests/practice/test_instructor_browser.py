"""The instructor page's buttons in headless Chromium: each panel's script binds (its <script> comes before app.js
in the page) and shows the server's answer. The JSON API behind them is tested in test_review.py,
test_training.py and tests/grades."""

from __future__ import annotations

import pytest

from .test_accessibility import CHROMIUM, browser  # noqa: F401 - browser: the shared Chromium fixture
from .test_api import right

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)"),
]


@pytest.fixture
def page(browser):  # noqa: F811 - the imported fixture
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    try:
        yield page
    finally:
        context.close()


def test_review_and_retrain_buttons_work_in_the_browser(page, platform, student_api, db, database_url,
                                                        engines_reset):
    if "postgresql" in database_url:
        pytest.skip("the browser test runs once (SQLite); the API tests cover PostgreSQL")
    for sub in ("student-1", "student-2"):  # two students with answers, so the review has someone to cover
        api = student_api(sub)
        item = api.get("/api/v1/practice/next").json()["item"]
        for _ in range(2):
            item = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": right(db, item["id"])}
                            ).json()["next"]["item"]
    page.goto(platform.launch_url_for_browser("instructor"))
    page.wait_for_selector("#review-form")
    url = page.url
    page.fill("#review-skills", "2")
    page.click("#review-form button[type=submit]")
    page.wait_for_function("document.getElementById('review-status').textContent.includes('students')",
                           timeout=20000)
    assert page.url == url  # the script handled the form: no native submit navigated away
    assert page.inner_text("#review-status").endswith("(2 students)")

    page.click("button.engine-retrain")
    page.wait_for_function("document.querySelector('.engine-status').textContent.length > 1", timeout=20000)
    assert page.inner_text(".engine-status") == page.inner_text("#engine-queued")
    assert page.errors == []


def test_deep_linking_adds_a_bank_activity_from_the_browser(page, platform, bank, database_url):
    """The picker's number fields take the defaults and decimals (a threshold of 0.8 was refused by the browser's
    own check, step 1, so "Add" did nothing)."""
    import time

    from lti_tool.lti import claims as c

    if "postgresql" in database_url:
        pytest.skip("the browser test runs once (SQLite); the API tests cover PostgreSQL")
    before = len(platform.deep_link_responses)
    page.goto(platform.launch_url_for_browser("instructor", message_type=c.DEEP_LINKING_REQUEST))
    form = page.locator("form.activity").filter(has=page.locator("input[name=mastery_threshold]"))
    assert form.locator("input[name=mastery_threshold]").input_value() == "0.8"
    assert form.locator("input[name=mastery_threshold]").get_attribute("max") == "0.95"  # 0.99 is out of reach
    form.locator("input[name=mastery_threshold]").fill("0.85")
    form.locator("button[type=submit]").click()
    deadline = time.time() + 20
    while len(platform.deep_link_responses) == before and time.time() < deadline:
        time.sleep(0.1)
    (item,) = platform.deep_link_responses[-1][c.DL_CONTENT_ITEMS]
    assert item["custom"]["item_bank"] == bank["slug"]
    assert item["custom"]["mastery_threshold"] == "0.85"
    assert page.errors == []


def test_a_student_finds_and_practises_their_review_on_the_practice_page(page, platform, student_api, db,
                                                                         database_url, engines_reset):
    """In Moodle a review is a gradebook column only (no link to launch): the practice page lists the learner's
    reviews, practises the chosen one (its answers count in the review) and goes back to the activity."""
    if "postgresql" in database_url:
        pytest.skip("the browser test runs once (SQLite); the API tests cover PostgreSQL")
    ada = student_api("student-1")
    for sub in ("student-1", "student-2"):
        api = student_api(sub)
        item = api.get("/api/v1/practice/next").json()["item"]
        for _ in range(3):
            item = api.post("/api/v1/practice/answer", {"item_id": item["id"], "answer": right(db, item["id"])}
                            ).json()["next"]["item"]
    teacher = student_api(role="instructor")
    review = teacher.post("/api/v1/practice/reviews", {"skills_per_student": 2}).json()["review"]

    page.goto(platform.launch_url_for_browser("student"))
    page.wait_for_selector("#item-form:not([hidden])")
    title = page.inner_text("#practice-title")
    page.wait_for_selector("#reviews:not([hidden])")
    page.click(f"#reviews-list button:has-text('{review['title']}')")
    page.wait_for_function(f"document.getElementById('practice-title').textContent === {review['title']!r}")
    page.wait_for_function(f"document.getElementById('status').textContent.includes({review['title']!r})")
    page.wait_for_selector("#item-form:not([hidden])")  # "Now practising: ..." announced, the review's question
    # answer one question of the review with the keyboard-free path: pick or type anything, check
    if page.get_attribute("#item-form input", "type") == "text":
        page.fill("#answer-input", "1")
    else:
        page.check("#item-form input")
    page.click("#check-btn")
    page.wait_for_selector("#feedback:not([hidden])")
    mine = ada.get("/api/v1/practice/reviews").json()["reviews"]
    assert [(r["id"], r["items_answered"]) for r in mine] == [(review["id"], 1)]
    page.click(f"#reviews-list button:has-text('{title}')")  # "Back to Fractions practice"
    page.wait_for_function(f"document.getElementById('practice-title').textContent === {title!r}")
    assert page.errors == []
