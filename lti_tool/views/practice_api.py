"""The practice JSON API, version 1 (documented in docs/api.md). Bearer session token from the launch; no cookie.

    GET  /api/v1/practice/next          the item to show (resume: the one on screen), progress, mastery, score
    POST /api/v1/practice/answer        {"item_id", "answer", "hints_used"?} -> correctness, feedback, mastery,
                                        score, and the next item
    GET  /api/v1/practice/mastery       the learner's mastery per skill and progress
    GET  /api/v1/practice/reviews       the learner's personalized review assignments
    GET  /api/v1/practice/class         instructor: who has mastered what
    POST /api/v1/practice/reviews       instructor: generate a personalized review assignment
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext, lazy_gettext

from adaptive.policy import BLOCKED, LEARN, LEARN_PREREQ, REVIEW, format_elapsed
from lti_tool.app import get_settings
from lti_tool.db import get_session
from lti_tool.lti.session import current_session, require_session
from lti_tool.services import practice, row_id
from lti_tool.services.engine import get_engine

bp = Blueprint("practice_api", __name__, url_prefix="/api/v1/practice")

EXPLANATIONS = {
    LEARN: lazy_gettext("%(skill)s: %(mastery)s%% mastered, weakest skill ready to practise"),
    LEARN_PREREQ: lazy_gettext("%(skill)s: %(mastery)s%% mastered, prerequisite of %(unlocks)s"),
    REVIEW: lazy_gettext("%(skill)s: review, predicted recall %(recall)s%% after %(elapsed)s"),
    BLOCKED: lazy_gettext("%(skill)s: %(mastery)s%% mastered, practising it before its prerequisites are mastered"),
}


def _locale() -> str | None:
    return current_session().locale


def explanation_text(explanation: dict[str, Any] | None, names: dict[str, str]) -> str:
    """The pick's explanation in the page's language, with skill names in that language."""
    if not explanation or explanation.get("code") not in EXPLANATIONS:
        return ""
    params = dict(explanation.get("params") or {})
    key = str(params.get("skill_key") or "")
    params["skill"] = names.get(key, params.get("skill", key))
    unlocks = params.get("unlocks_keys") or []
    if unlocks:
        first = names.get(unlocks[0], unlocks[0])
        params["unlocks"] = first if len(unlocks) == 1 else f"{first} (+{len(unlocks) - 1})"
    if "elapsed_hours" in params:
        hours = float(params["elapsed_hours"])
        params["elapsed"] = (gettext("%(n)s days", n=round(hours / 24)) if hours >= 48
                             else format_elapsed(hours))
    template = str(EXPLANATIONS[explanation["code"]])
    try:
        return template % params
    except (KeyError, TypeError, ValueError):
        return ""


def score_comment(score: dict[str, Any]) -> str:
    p = score.get("comment_params") or {}
    if p.get("code") == "mastered":
        return gettext("%(n)s of %(total)s skills mastered", n=p["n"], total=p["total"])
    if p.get("code") == "correct":
        return gettext("%(n)s of %(total)s answers correct", n=p["n"], total=p["total"])
    return score.get("comment", "")


def localize_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Add the translated texts (explanation, score comment) to a service payload, recursively for ``next``."""
    names = {m["skill"]: m["name"] for m in payload.get("mastery") or []}
    item = payload.get("item")
    if item and item.get("explanation"):
        item["explanation"] = {**item["explanation"], "text": explanation_text(item["explanation"], names)}
    if payload.get("score"):
        payload["score"] = {**payload["score"], "comment_text": score_comment(payload["score"])}
    if payload.get("next"):
        payload["next"] = localize_payload(payload["next"])
    return payload


@bp.errorhandler(practice.PracticeError)
def _practice_error(exc: practice.PracticeError):
    status = 403 if exc.code == "forbidden" else (409 if exc.code == "conflict" else exc.status)
    return jsonify(error=str(exc), code=exc.code), status


def _review_arg() -> int | None:
    raw = request.args.get("review")
    if raw in (None, ""):
        return None
    review_id = row_id(raw)
    if review_id is None:
        raise practice.NotFound("unknown review assignment")
    return review_id


@bp.get("/next")
@require_session(learner=True)
def next_item():
    payload = practice.next_item(get_session(), current_session(), get_engine, get_settings(), locale=_locale(),
                                 review_id=_review_arg())
    return jsonify(localize_payload(payload))


@bp.post("/answer")
@require_session(learner=True)
def answer():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "item_id" not in body or "answer" not in body:
        return jsonify(error='expected JSON {"item_id": ..., "answer": ...}', code="bad_request"), 400
    hints = body.get("hints_used", 0)
    payload = practice.submit_answer(get_session(), current_session(), get_engine, get_settings(),
                                     served_id=body["item_id"], answer=body["answer"], locale=_locale(),
                                     hints_used=hints if isinstance(hints, int) else 0)
    return jsonify(localize_payload(payload))


@bp.get("/mastery")
@require_session(learner=True)
def mastery():
    return jsonify(practice.mastery_overview(get_session(), current_session(), get_engine, get_settings(),
                                             locale=_locale()))


@bp.get("/reviews")
@require_session(learner=True)
def reviews():
    return jsonify(api_version=practice.API_VERSION, reviews=practice.my_reviews(get_session(), current_session()))


@bp.get("/class")
@require_session(instructor=True)
def class_mastery():
    return jsonify(practice.class_mastery(get_session(), current_session(), get_engine, get_settings(),
                                          locale=_locale()))


@bp.post("/reviews")
@require_session(instructor=True)
def create_review():
    body = request.get_json(silent=True) or {}
    try:
        per_student = int(body.get("skills_per_student", 3))
    except (TypeError, ValueError):
        return jsonify(error="skills_per_student must be a number", code="bad_request"), 400
    review = practice.create_review_assignment(get_session(), current_session(), get_engine, get_settings(),
                                               title=body.get("title"), skills_per_student=per_student)
    return jsonify(api_version=practice.API_VERSION, review={
        "id": review.id, "title": review.title, "n_students": review.n_students,
        "line_item_id": review.line_item_id}), 201
