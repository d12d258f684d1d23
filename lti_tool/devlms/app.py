"""The LMS simulator as a Flask app: a demo course page with launch buttons, plus the platform endpoints.

``create_devlms_app(tool_base_url)`` builds it; ``adaptive-lti dev`` serves it next to the tool. The simulated
platform (keys, course, members, deep-linked links) is at ``app.extensions["devlms_platform"]``.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, redirect, render_template_string, request

from lti_tool.devlms.platform import INSTRUCTOR, STUDENT, Platform, RsaKey
from lti_tool.lti import claims as c


def create_devlms_app(tool_base_url: str, *, platform: Platform | None = None, lms_url: str | None = None,
                      key: RsaKey | None = None) -> Flask:
    platform = platform or Platform(tool_url=tool_base_url, keys=[key] if key else None)
    if lms_url:
        platform.attach_url(lms_url)
    app = Flask("devlms")
    app.extensions["devlms_platform"] = platform
    app.register_blueprint(platform.blueprint())
    app.register_blueprint(_course_blueprint())
    # --- simulator services (keep one import + register per line) ---
    from lti_tool.devlms.gradebook import register_gradebook
    register_gradebook(app, platform)
    return app


def _platform() -> Platform:
    return current_app.extensions["devlms_platform"]


def _course_blueprint() -> Blueprint:
    bp = Blueprint("devlms_course", __name__)

    @bp.get("/")
    def index():
        return redirect("/course")

    @bp.get("/course")
    def course():
        platform = _platform()
        if not platform.url:
            platform.attach_url(request.host_url)
        return render_template_string(COURSE_PAGE, platform=platform, course=platform.course)

    @bp.get("/launch")
    def launch():
        """A launch button: send the browser (into the course's iframe) to the tool's login."""
        platform = _platform()
        role = request.args.get("role", STUDENT)
        if role not in (STUDENT, INSTRUCTOR):
            abort(400)
        message_type = c.DEEP_LINKING_REQUEST if request.args.get("deep_link") else c.RESOURCE_LINK_REQUEST
        link = request.args.get("link") or None
        if link is not None and link not in platform.course.links:
            abort(404)
        locale = request.args.get("locale", "en")
        if locale not in LOCALES:
            abort(400)
        return redirect(platform.launch_url_for_browser(role, message_type, link, locale=locale))

    return bp


LOCALES = ("en", "zh-CN")  # what the simulator's buttons send as launch_presentation.locale

COURSE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ course.title }} · LMS simulator</title>
<style>
 body{font:15px/1.5 system-ui,sans-serif;margin:0;display:grid;grid-template-columns:22rem 1fr;height:100vh}
 nav{background:#23303f;color:#e8edf3;padding:1rem;overflow:auto}
 nav h1{font-size:1.1rem} nav h2{font-size:1rem;margin-top:1.2rem}
 nav a{display:block;color:#fff;background:#3a6ea5;margin:.3rem 0;padding:.35rem .6rem;border-radius:.3rem;
   text-decoration:none}
 nav a.instr{background:#6d4aa5} nav a.dl{background:#2f855a} nav small{color:#aab6c4}
 iframe{border:0;width:100%;height:100%}
</style></head>
<body><nav>
<h1>{{ course.title }}</h1><small>LMS simulator · issuer {{ platform.issuer }} · client id {{ platform.client_id }}
 · deployment {{ platform.deployment_id }}</small>
{% for link_id, link in course.links.items() %}
<h2>{{ link.title }}</h2>
<a target="tool" href="/launch?role=student&link={{ link_id }}">Launch as student</a>
<a lang="zh-CN" target="tool" href="/launch?role=student&link={{ link_id }}&locale=zh-CN">Launch as student (中文)</a>
<a class="instr" target="tool" href="/launch?role=instructor&link={{ link_id }}">Launch as instructor</a>
{% endfor %}
<h2>Grades</h2>
<a class="gb" target="tool" href="/gradebook">Gradebook</a>
<h2>Add an activity</h2>
<a class="dl" target="tool" href="/launch?role=instructor&deep_link=1">Deep link as instructor</a>
<h2>People</h2>
{% for m in course.members %}
<small>{{ m.name }} ({{ 'instructor' if 'Instructor' in m.roles[0] else 'student' }})</small><br>
{% endfor %}
</nav>
<iframe name="tool" title="The tool" src="about:blank"></iframe>
</body></html>"""
