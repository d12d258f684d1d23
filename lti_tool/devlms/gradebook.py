"""The LMS simulator's services and gradebook: the token endpoint, NRPS and AGS the launches point at
(:class:`~lti_tool.devlms.services.LmsServices`), and a gradebook page that shows the scores the tool delivered.

``register_gradebook(app, platform)`` mounts both on the simulator app (``adaptive-lti dev`` does it through
:func:`lti_tool.devlms.app.create_devlms_app`): a newcomer who answers items as a student sees the score arrive on
``/gradebook`` a moment later (the tool's background thread delivers it), with the comment the tool sent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Flask, current_app, render_template_string

from lti_tool.devlms.platform import Platform
from lti_tool.devlms.services import LmsServices

EXTENSION = "devlms_services"


def register_gradebook(app: Flask, platform: Platform, services: LmsServices | None = None) -> LmsServices:
    """Serve the platform's LTI Advantage services and the gradebook page on ``app``; the services trust the
    tool's published JWKS (``{tool}/.well-known/jwks.json``) and know the course roster (NRPS)."""
    services = services or LmsServices(tool_jwks_url=platform.tool_url + "/.well-known/jwks.json")
    if platform.url:
        services.url = platform.url
    course = platform.course
    services.set_members(course.id, [{"user_id": m.sub, "roles": list(m.roles), "name": m.name,
                                      "given_name": m.given_name, "family_name": m.family_name, "email": m.email}
                                     for m in course.members])
    app.extensions[EXTENSION] = services
    app.register_blueprint(services.blueprint())
    app.register_blueprint(_blueprint())
    return services


def gradebook_rows(platform: Platform, services: LmsServices) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(columns, rows) of the course's gradebook: one column per line item, one row per student."""
    course = platform.course
    items = services.lineitems_of(course.id)
    results = services.results_of(course.id)
    columns = []
    for li_id, item in items.items():
        link = course.links.get(li_id)  # the platform's own line item of a resource link: show the link's title
        columns.append({"id": li_id, "label": (link or {}).get("title") or item.get("label") or li_id})
    rows = []
    for member in course.members:
        if not any(r.endswith("#Learner") for r in member.roles):
            continue
        cells = []
        for col in columns:
            result = results.get((col["id"], member.sub))
            if result is None or result.get("resultScore") is None:
                cells.append(None)
                continue
            maximum = result.get("resultMaximum") or 1
            ts = result.get("timestamp")
            cells.append({"score": result["resultScore"], "maximum": maximum,
                          "percent": round(100 * float(result["resultScore"]) / float(maximum)),
                          "comment": result.get("comment") or "",
                          "at": ts.astimezone(dt.UTC).strftime("%H:%M:%S UTC") if ts else ""})
        rows.append({"name": member.name or member.sub, "sub": member.sub, "cells": cells})
    return columns, rows


def _blueprint() -> Blueprint:
    bp = Blueprint("devlms_gradebook", __name__)

    @bp.get("/gradebook")
    def gradebook():
        platform: Platform = current_app.extensions["devlms_platform"]
        services: LmsServices = current_app.extensions[EXTENSION]
        columns, rows = gradebook_rows(platform, services)
        received = services.requests_of("scores")[-10:]
        return render_template_string(PAGE, course=platform.course, columns=columns, rows=rows,
                                      received=list(reversed(received)))

    return bp


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gradebook · {{ course.title }} · LMS simulator</title>
<meta http-equiv="refresh" content="5">
<style>
 body{font:15px/1.5 system-ui,sans-serif;margin:1.5rem;color:#1d2733}
 table{border-collapse:collapse;margin:1rem 0} th,td{border:1px solid #c9d2dc;padding:.35rem .7rem;text-align:left}
 th{background:#eef2f6} td.score{font-variant-numeric:tabular-nums} small{color:#55606c}
</style></head>
<body><h1 id="gradebook">Gradebook: {{ course.title }}</h1>
<p><small>What the tool sent through LTI Assignment and Grade Services. Scores arrive a moment after each answer
(the tool delivers them in the background); this page refreshes every 5 seconds.</small></p>
{% if columns %}
<table><caption>Scores by student and gradebook column</caption>
<thead><tr><th scope="col">Student</th>
{% for col in columns %}<th scope="col">{{ col.label }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr><th scope="row">{{ row.name }}</th>
{% for cell in row.cells %}<td class="score">{% if cell %}
 <span class="grade" data-sub="{{ row.sub }}">{{ cell.percent }}%</span>
 <small>({{ '%g' % cell.score }}/{{ '%g' % cell.maximum }}{% if cell.comment %}: {{ cell.comment }}{% endif %},
 {{ cell.at }})</small>{% else %}–{% endif %}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% else %}<p>No grades yet: launch an activity as a student and answer a question.</p>{% endif %}
{% if received %}<h2>Last score requests</h2><ul>
{% for r in received %}<li><code>{{ r.method }} {{ r.path }}</code> → {{ r.status }}{% if r.body %}
 ({{ r.body.get("userId") }}: {{ r.body.get("scoreGiven") }}/{{ r.body.get("scoreMaximum") }},
 {{ r.body.get("activityProgress") }}){% endif %}</li>{% endfor %}</ul>{% endif %}
<p><a href="/course" target="_top">Back to the course</a></p>
</body></html>"""
