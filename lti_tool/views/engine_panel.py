"""Instructor panel: for each item bank the course's adaptive activities use, which model serves it (champion/
challenger on that bank's held-out students, or the baseline while its data is thin), when and on how much data it
was chosen, and "Retrain now" (``POST /api/v1/engine/retrain``, driven by ``static/engine_panel.js`` with the
session token; it enqueues the ``training.select`` job for the course's banks only)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, jsonify, request, url_for
from sqlalchemy.orm import Session

from lti_tool import jobs
from lti_tool.app import get_settings
from lti_tool.db import get_session
from lti_tool.logs import get_logger
from lti_tool.lti.session import LtiSession, current_session, require_session
from lti_tool.models.items import ItemBank
from lti_tool.services import practice
from lti_tool.services.engine import TRACKER_FILE, bank_registry, registry_root

log = get_logger(__name__)

bp = Blueprint("engine_panel", __name__, url_prefix="/api/v1/engine")


def engine_summary(registry: Path) -> dict[str, Any]:
    """What the panel shows of one bank's registry, from its ``champion.json`` (no record: the untrained
    baseline)."""
    from adaptive import BASELINE
    from adaptive.champion import read_record

    try:
        record = read_record(registry)
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

    def weights(name: str) -> str:
        """An ensemble candidate's members and their weights, "PFA RECENCY 0.42 · DKT 0.31" ("" for any other
        model)."""
        combine = (candidates.get(name) or {}).get("combine") or {}
        try:
            return " · ".join(f"{str(k).upper().replace('_', ' ')} {float(v):.2f}"
                              for k, v in (combine.get("weights") or {}).items())
        except (AttributeError, TypeError, ValueError):
            return ""

    return {
        "trained": True, "champion": champion, "is_baseline": champion == BASELINE, "thin": not candidates,
        "decided_at": decided_at, "champion_auc": auc(champion), "baseline_auc": auc(BASELINE),
        "n_students": int(record.get("n_students") or 0), "n_responses": int(record.get("n_responses") or 0),
        "n_heldout_students": int(record.get("n_heldout_students") or 0),
        "thresholds": record.get("thresholds") or {},
        "candidates": [{"name": k, "auc": auc(k), "weights": weights(k)} for k in sorted(candidates)],
    }


def tracked_skills(registry: Path) -> int | None:
    """How many skills the bank's per-skill mastery tracker (``tracker.json``) has fitted; None without one."""
    try:
        data = json.loads((registry / TRACKER_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("engine_panel.tracker_unreadable", registry=str(registry))
        return None
    return len(data.get("params") or {}) if isinstance(data, dict) else None


def bank_summary(settings: Any, bank: ItemBank, locale: str | None = None) -> dict[str, Any]:
    """One bank's panel entry: its id, slug and title, :func:`engine_summary` of its own registry and how many
    skills its mastery tracker has fitted (``tracker_skills``, None without a tracker)."""
    registry = bank_registry(registry_root(settings), bank)
    return {"bank_id": bank.id, "slug": bank.slug, "title": bank.display_title(locale),
            **engine_summary(registry), "tracker_skills": tracked_skills(registry)}


def engine_panel(session: Session, lti_session: LtiSession) -> tuple[str, dict[str, Any]] | None:
    if not lti_session.is_instructor:
        return None
    settings = get_settings()
    banks = [bank_summary(settings, b, lti_session.locale) for b in practice.course_banks(session, lti_session)]
    return "instructor/_engine_panel.html", {"banks": banks, "retrain_url": url_for("engine_panel.retrain")}


@bp.post("/retrain")
@require_session(instructor=True)
def retrain() -> Any:
    """Enqueue a champion/challenger training of each item bank the caller's course uses (``{"bank_id": N}``: that
    bank only, refused with 404 unless the course uses it); a bank whose training is running is skipped by the
    job."""
    who = current_session()
    banks = practice.course_banks(get_session(), who)
    body = request.get_json(silent=True)
    raw = body.get("bank_id") if isinstance(body, dict) else None
    if raw is not None:
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
            return jsonify(error="bank_id must be an item bank id", code="bad_request"), 400
        banks = [b for b in banks if b.id == int(raw)]
        if not banks:
            return jsonify(error="no adaptive activity of this course uses that item bank", code="not_found"), 404
    if not banks:
        return jsonify(error="no adaptive activity of this course uses an item bank", code="not_found"), 404
    for bank in banks:
        jobs.enqueue("training.select", bank_id=bank.id)
    log.info("engine.retrain_requested", user_id=who.user_id, context_id=who.context_id,
             bank_ids=[b.id for b in banks])
    return jsonify(queued=[{"bank_id": b.id, "bank": b.slug} for b in banks], job="training.select"), 202


def init_app(app: Flask) -> None:
    from lti_tool.views.instructor import register_instructor_panel

    app.register_blueprint(bp)
    register_instructor_panel(engine_panel)
