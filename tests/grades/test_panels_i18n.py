"""The instructor page's grades and roster panels (and the roster JSON messages) follow the launch's language."""

from __future__ import annotations

import requests

from lti_tool.devlms.platform import INSTRUCTOR, REMOVE, Platform
from lti_tool.lti import claims as c
from lti_tool.services import tokens


def _register(platform: Platform, db) -> None:
    """Once the simulator is served: its registration names its URL."""
    with db.session() as s:
        platform.register_in(s)


def test_grades_and_roster_panels_in_chinese(live_app, db):
    base_url, _app = live_app
    tokens.clear_memory_cache()
    platform = Platform(tool_url=base_url)
    with platform.serve():
        _register(platform, db)
        teacher = platform.launch(INSTRUCTOR, locale="zh-CN")
        assert teacher.response.status_code == 200, teacher.html[:500]
        html = teacher.html
        assert "发送到 LMS 的成绩" in html  # the grades panel's heading
        assert "在 LMS 成绩册中被修改的成绩" in html
        assert "班级名单" in html  # the roster panel's heading
        assert 'data-msg-started="同步已开始，请稍后刷新页面。"' in html  # the panel script's messages
        for english in ("Grades sent to the LMS", "Grades changed in the LMS gradebook", "Class list",
                        "Check the LMS gradebook now", "Active members:", "Sync started"):
            assert english not in html

        english = platform.launch(INSTRUCTOR).html  # an English launch is unchanged
        assert "Grades sent to the LMS" in english
        assert "Class list" in english
        assert "班级名单" not in english


def test_roster_unavailable_message_in_chinese(live_app, db):
    base_url, _app = live_app
    tokens.clear_memory_cache()
    platform = Platform(tool_url=base_url)
    with platform.serve():
        _register(platform, db)
        teacher = platform.launch(INSTRUCTOR, locale="zh-CN", claims={c.NRPS: REMOVE})
        assert teacher.response.status_code == 200, teacher.html[:500]
        assert "LMS 未授予本工具此课程的名单服务" in teacher.html
        assert "did not grant this tool the roster service" not in teacher.html
        auth = {"Authorization": f"Bearer {teacher.token}"}
        status = requests.get(f"{base_url}/api/v1/roster/status", headers=auth, timeout=10).json()
        assert status["status"] == "unavailable"
        assert status["message"].startswith("LMS 未授予本工具")
        sync = requests.post(f"{base_url}/api/v1/roster/sync", headers=auth, timeout=10)
        assert sync.status_code == 409
        assert sync.json()["message"].startswith("LMS 未授予本工具")
