"""Instructor panel: which model the engine serves (champion/challenger on held-out students, or the baseline
while data is thin), when and on how much data it was chosen, and "Retrain now" (``POST /api/v1/engine/retrain``,
driven by ``static/engine_panel.js`` with the session token; it enqueues the ``training.select`` job)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Flask, jsonify, url_for
from sqlalchemy.orm import Session

from lti_tool import jobs
from lti_tool.app import get_settings
from lti_tool.logs import get_logger
from lti_tool.lti.session import LtiSession, current_session, require_session
from lti_tool.services.engine import registry_path

log = get_logger(__name__)

bp = Blueprint("engine_panel", __name__, url_prefix="/api/v1/engine")


def engine_summary(settings: Any) -> dict[str, Any]:
    """What the panel shows, from the registry's ``champion.json`` (no record: the untrained baseline)."""
    from adaptive import BASELINE
    from adaptive.champion import read_record

    try:
        record = read_record(registry_path(settings))
    except (OSError, ValueError):
        record = None
    if record is None:
        return {"trained": False, "champion": BASELINE, "is_baseline": True, "thin": True}
    candidates = record.get("candidates") or {}
    champion = str(record.get("champion", BASELINE))
    decided_at = None
    if record.get("decided_at"):
        try:
            from flask_babel import format_datetime

            decided_at = format_datetime(dt.datetime.fromisoformat(record["decided_at"]), "medium")
        except ValueError:
            decided_at = str(record["decided_at"])

    def auc(name: str) -> float | None:
        value = (candidates.get(name) or {}).get("auc")
        return float(value) if value is not None and value == value else None  # noqa: PLR0124 - nan check

    return {
        "trained": True, "champion": champion, "is_baseline": champion == BASELINE, "thin": not candidates,
        "decided_at": decided_at, "champion_auc": auc(champion), "baseline_auc": auc(BASELINE),
        "n_students": int(record.get("n_students") or 0), "n_responses": int(record.get("n_responses") or 0),
        "n_heldout_students": int(record.get("n_heldout_students") or 0),
        "thresholds": record.get("thresholds") or {},
        "candidates": [{"name": k, "auc": auc(k)} for k in sorted(candidates)],
    }


def engine_panel(session: Session, lti_session: LtiSession) -> tuple[str, dict[str, Any]] | None:
    if not lti_session.is_instructor:
        return None
    return "instructor/_engine_panel.html", {"engine": engine_summary(get_settings()),
                                             "retrain_url": url_for("engine_panel.retrain")}


@bp.post("/retrain")
@require_session(instructor=True)
def retrain() -> Any:
    """Enqueue a champion/challenger training on the tool's attempts (the job skips if one is running)."""
    jobs.enqueue("training.select")
    log.info("engine.retrain_requested", user_id=current_session().user_id)
    return jsonify(queued=True, job="training.select"), 202


def init_app(app: Flask) -> None:
    from lti_tool.views.instructor import register_instructor_panel

    app.register_blueprint(bp)
    register_instructor_panel(engine_panel)
