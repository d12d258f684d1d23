"""The learner's landing page (the practice page replaces this body in a later issue)."""

from __future__ import annotations

from flask import Response
from sqlalchemy.orm import Session

from lti_tool.lti.session import LtiSession
from lti_tool.views.common import render_launched_page


def render_student_home(session: Session, lti_session: LtiSession) -> Response:
    return render_launched_page("student/home.html", session, lti_session)
