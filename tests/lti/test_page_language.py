"""The page chrome (who is signed in, the role, the course, test-student badge, error headings, the deep linking
picker) follows the launch's language; nothing of it stays in English on a Chinese page."""

from __future__ import annotations

import html
import re

import jwt

from lti_tool.devlms.platform import INSTRUCTOR, REMOVE, STUDENT, LaunchSpec, parse_html
from lti_tool.lti import claims as c

ENGLISH_CHROME = ("Signed in as", "Instructor<", "Student<", "Test student", "(no course)", "Course panels",
                  "Adaptive practice<", "Add an adaptive activity", "Title in the course", "Cancel<")


def _visible_text(page: str) -> str:
    return re.sub(r"<script.*?</script>", "", page, flags=re.S)


def _no_english_chrome(page: str) -> None:
    text = _visible_text(page)
    leftovers = [s for s in ENGLISH_CHROME if s in text]
    assert not leftovers, leftovers


def test_student_page_chrome_in_chinese(platform):
    result = platform.launch(STUDENT, locale="zh-CN")
    assert result.status == 200, result.html
    page = result.html
    assert 'lang="zh-Hans"' in page
    assert 'data-role="learner"' in page
    assert '当前用户：<strong class="user-name">Ada Lovelace</strong>' in page
    assert '课程：<strong class="course-name">Mathematics 101 (demo)</strong>' in page
    assert '身份：<strong class="role-name">学生</strong>' in page
    _no_english_chrome(page)


def test_instructor_page_and_test_student_badge_in_chinese(platform):
    result = platform.launch(INSTRUCTOR, locale="zh-CN")
    page = result.html
    assert 'data-role="instructor"' in page
    assert '<strong class="role-name">教师</strong>' in page
    assert "<title>课程 · Mathematics 101 (demo)</title>" in page
    assert "活动：Fractions practice" in page
    _no_english_chrome(page)
    test_user = platform.launch(STUDENT, locale="zh-CN",
                                claims={c.ROLES: [c.MEMBERSHIP + "Learner", c.TEST_USER]})
    assert "测试学生：不计分" in test_user.html
    _no_english_chrome(test_user.html)


def test_launch_without_course_in_chinese(platform):
    result = platform.launch(INSTRUCTOR, locale="zh-CN", claims={c.CONTEXT: REMOVE})
    assert "（无课程）" in result.html
    assert "本次启动未附带课程" in result.html
    _no_english_chrome(result.html)


def test_english_page_chrome_unchanged(platform):
    page = platform.launch(STUDENT).html
    assert 'lang="en"' in page
    assert 'Signed in as <strong class="user-name">Ada Lovelace</strong>' in page
    assert 'as <strong class="role-name">Student</strong>' in page


def test_names_stay_escaped_inside_translated_chrome(platform):
    page = platform.launch(STUDENT, locale="zh-CN", name="<img src=x onerror=alert(1)>", given_name=None).html
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_error_page_heading_follows_accept_language(platform, http):
    resp = http.post(platform.tool_url + "/lti/launch", data={"id_token": "x.y", "state": "s"},
                     headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert resp.status_code == 400
    assert 'lang="zh-Hans"' in resp.text
    assert "<h1>LTI 启动被拒绝</h1>" in resp.text
    assert "未保存任何内容" in resp.text
    english = http.post(platform.tool_url + "/lti/launch", data={"id_token": "x.y", "state": "s"},
                        headers={"Accept-Language": "en-US"})
    assert "<h1>LTI launch refused</h1>" in english.text


def test_deep_linking_picker_in_chinese(platform, http):
    spec = LaunchSpec(role=INSTRUCTOR, message_type=c.DEEP_LINKING_REQUEST, locale="zh-CN")
    hint = platform.new_spec(spec)
    resp = http.get(platform.tool_url + "/lti/login", params=platform.login_params(hint))
    form = parse_html(resp.text).forms[0]
    assert jwt.decode(form["fields"]["id_token"], options={"verify_signature": False})["locale"] == "zh-CN"
    picker = http.post(form["action"], data=form["fields"])
    page = html.unescape(picker.text)
    assert "添加自适应活动" in page
    assert "在课程中的标题" in page
    assert "达到掌握" in page
    assert "添加“自适应练习”" in page
    _no_english_chrome(picker.text)
    chosen = next(f for f in parse_html(picker.text).forms if f["fields"].get("activity"))
    answer = http.post(platform.tool_url + chosen["action"], data=chosen["fields"])
    assert 'lang="zh-Hans"' in answer.text
    assert "正在返回你的课程" in answer.text


def test_refused_launch_page_follows_the_token_locale(platform, http):
    result = platform.launch(STUDENT, locale="zh-CN", claims={c.VERSION: "1.1"})
    assert result.status == 400
    assert "<h1>LTI 启动被拒绝</h1>" in result.html
    assert "1.1" in result.html  # the detail, for the admin, stays as written
    english = platform.launch(STUDENT, claims={c.VERSION: "1.1"})
    assert "<h1>LTI launch refused</h1>" in english.html
