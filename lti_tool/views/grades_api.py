"""Instructor JSON endpoints for grades and the roster, and the instructor page panels.

Every endpoint needs an instructor session token (``Authorization: Bearer``) and only ever sees the caller's
course (``current_session().context_id``): ids from the client are checked against it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from lti_tool import jobs
from lti_tool.db import get_session
from lti_tool.lti.session import LtiSession, current_session, require_session
from lti_tool.models import Context
from lti_tool.models.grades import FAILED, PENDING, REJECTED
from lti_tool.services import grades, roster, row_id
from lti_tool.views.instructor import register_instructor_panel

bp = Blueprint("grades_api", __name__, url_prefix="/api/v1")
VISIBLE = (FAILED, REJECTED, PENDING)


def _context_id() -> int | None:
    return current_session().context_id


def _no_course():
    return jsonify(error="no_course", message=_("This launch has no course.")), 400


def _score_dict(row: Any, user: Any, item: Any) -> dict[str, Any]:
    return {
        "id": row.id, "status": row.status, "user_id": user.id, "user": user.display_name,
        "activity": item.label, "score_given": row.score_given, "score_maximum": row.score_maximum,
        "attempts": row.attempts, "last_error": row.last_error, "last_status_code": row.last_status_code,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.status == PENDING else None,
    }


def _override_dict(result: Any, user: Any, item: Any) -> dict[str, Any]:
    return {"user_id": user.id, "user": user.display_name, "activity": item.label,
            "lms_score": result.result_score, "lms_maximum": result.result_maximum,
            "our_score": result.our_score, "our_maximum": result.our_maximum,
            "fetched_at": result.fetched_at.isoformat() if result.fetched_at else None}


@bp.get("/grades/scores")
@require_session(instructor=True)
def list_scores():
    context_id = _context_id()
    if context_id is None:
        return _no_course()
    wanted = [s for s in (request.args.get("status") or ",".join(VISIBLE)).split(",") if s in VISIBLE]
    session = get_session()
    rows = grades.list_scores(session, context_id, wanted)
    return jsonify(scores=[_score_dict(*r) for r in rows], counts=_counts(session, context_id))


def _counts(session, context_id: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from lti_tool.models import ScoreOutbox

    rows = session.execute(select(ScoreOutbox.status, func.count()).where(ScoreOutbox.context_id == context_id)
                           .group_by(ScoreOutbox.status)).all()
    return {status: int(n) for status, n in rows}


@bp.post("/grades/scores/retry")
@require_session(instructor=True)
def retry_scores():
    """Body ``{"ids": [..]}`` retries those (failed or rejected) scores; no ids retries every failed one."""
    context_id = _context_id()
    if context_id is None:
        return _no_course()
    data = request.get_json(silent=True) or {}
    ids = data.get("ids")
    if ids is not None and (not isinstance(ids, list) or len(ids) > 10_000
                            or not all(isinstance(i, int) and row_id(i) is not None for i in ids)):
        return jsonify(error="bad_request", message="ids must be a list of integers"), 400
    session = get_session()
    retried = grades.retry_scores(session, context_id, ids)
    session.commit()
    return jsonify(retried=retried)


@bp.get("/grades/overrides")
@require_session(instructor=True)
def list_overrides():
    context_id = _context_id()
    if context_id is None:
        return _no_course()
    rows = grades.overridden_results(get_session(), context_id)
    return jsonify(overrides=[_override_dict(*r) for r in rows])


@bp.post("/grades/overrides/refresh")
@require_session(instructor=True)
def refresh_overrides():
    context_id = _context_id()
    if context_id is None:
        return _no_course()
    jobs.enqueue("grades.read_results", context_id=context_id)
    return jsonify(queued=True), 202


@bp.get("/roster/status")
@require_session(instructor=True)
def roster_status():
    context_id = _context_id()
    if context_id is None:
        return _no_course()
    session = get_session()
    return jsonify(roster.status(session, session.get(Context, context_id)))


@bp.post("/roster/sync")
@require_session(instructor=True)
def roster_sync():
    lti_session = current_session()
    if lti_session.context_id is None:
        return _no_course()
    context = get_session().get(Context, lti_session.context_id)
    if not roster.has_nrps(context):
        return jsonify(error="unavailable", message=_(roster.NO_NRPS_MESSAGE)), 409
    jobs.enqueue("roster.sync", context_id=lti_session.context_id)
    return jsonify(queued=True), 202


# ------------------------------------------------------------------------------------------- panels
@register_instructor_panel
def grades_panel(session, lti_session: LtiSession):
    if lti_session.context_id is None:
        return None
    context = session.get(Context, lti_session.context_id)
    rows = grades.list_scores(session, lti_session.context_id, (FAILED, REJECTED), limit=50)
    return "instructor/_grades_panel.html", {
        "can_score": grades.can_score(context),
        "counts": _counts(session, lti_session.context_id),
        "problems": [_score_dict(*r) for r in rows],
        "overrides": [_override_dict(*r) for r in grades.overridden_results(session, lti_session.context_id)],
    }


@register_instructor_panel
def roster_panel(session, lti_session: LtiSession):
    if lti_session.context_id is None:
        return None
    status = roster.status(session, session.get(Context, lti_session.context_id))
    when = status.get("last_success_at") or status.get("finished_at")
    if when:  # the page shows the date in the reader's language, not ISO 8601 with microseconds
        from flask_babel import format_datetime

        when = format_datetime(dt.datetime.fromisoformat(when), "medium")
    return "instructor/_roster_panel.html", {"roster": status, "roster_when": when}
