"""The practice page as the launch renders it: the shell, the token, the language."""

from __future__ import annotations

import json
import re

from lti_tool.devlms.platform import parse_html

PRESENTATION = "https://purl.imsglobal.org/spec/lti/claim/launch_presentation"


def test_student_page_is_the_practice_page_in_english(platform, activity):
    result = platform.launch("student")
    assert result.status == 200
    html = result.html
    assert 'id="practice"' in html
    assert "practice.js" in html
    assert "katex.min.js" in html  # maths rendered by the bundled KaTeX
    assert "Check answer" in html
    assert "Your mastery by skill" in html
    assert 'role="progressbar"' in html
    assert parse_html(html).metas.get("adaptive-lti-session") == result.token


def page_strings(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="practice-strings">(.*?)</script>', html, re.S)
    assert found, "the page hands its texts to practice.js"
    return json.loads(found.group(1))


def test_counts_have_their_plural_forms(platform, activity):
    """"1 question answered", not "1 questions answered": the script picks a form per CLDR category."""
    english = page_strings(platform.launch("student").html)
    assert english["answered"] == {"one": "{n} question answered", "other": "{n} questions answered"}
    chinese = page_strings(platform.launch("student", claims={
        PRESENTATION: {"document_target": "iframe", "locale": "zh-CN"}, "locale": "zh-CN"}).html)
    assert chinese["answered"] == {"other": "已作答 {n} 题"}  # one form for every count


def test_student_page_in_simplified_chinese(platform, activity):
    result = platform.launch("student", claims={PRESENTATION: {"document_target": "iframe", "locale": "zh-CN"},
                                                       "locale": "zh-CN"})
    assert result.status == 200
    assert "检查答案" in result.html
    assert "你的各技能掌握度" in result.html
    assert "Check answer" not in result.html


def test_api_texts_follow_the_launch_locale(platform, activity, student_api):
    api = student_api(claims={PRESENTATION: {"document_target": "iframe", "locale": "zh-Hans"}, "locale": "zh-Hans"})
    body = api.get("/api/v1/practice/next").json()
    assert "掌握度" in body["item"]["explanation"]["text"]
    assert "已掌握" in body["score"]["comment_text"]
    # the bank's skill names come in Chinese too
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["mastery"][0]["name"])


def test_instructor_page_dates_and_counts_read_naturally(platform, activity, tool_server, lms):
    from .conftest import run_jobs

    platform.launch("instructor")
    run_jobs(tool_server)  # the launch's roster sync
    html = platform.launch("instructor").html
    found = re.search(r"Last synchronised with the LMS: ([^<]*)\.</p>", html)
    assert found, html[-3000:]
    assert "+00:00" not in found.group(1)  # a date in the reader's language, not ISO 8601
    assert re.search(r"\b20\d\d\b", found.group(1))
