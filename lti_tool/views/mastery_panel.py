"""Instructor panel: who has mastered what in this activity, and the "generate personalized review assignment"
button (``POST /api/v1/practice/reviews``, driven by ``static/mastery_panel.js`` with the session token)."""

from __future__ import annotations

from typing import Any

from flask import Flask, url_for
from sqlalchemy.orm import Session

from lti_tool.app import get_settings
from lti_tool.lti.session import LtiSession
from lti_tool.services import practice
from lti_tool.services.engine import get_engine


def mastery_panel(session: Session, lti_session: LtiSession) -> tuple[str, dict[str, Any]] | None:
    if lti_session.resource_link_id is None or lti_session.context_id is None:
        return None
    try:
        data = practice.class_mastery(session, lti_session, get_engine, get_settings(), locale=lti_session.locale)
    except practice.PracticeError:
        return None
    return "instructor/_mastery_panel.html", {"data": data, "reviews_url": url_for("practice_api.create_review")}


def init_app(app: Flask) -> None:
    from lti_tool.views.instructor import register_instructor_panel

    register_instructor_panel(mastery_panel)
