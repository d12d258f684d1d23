"""What a resource-link launch shows: the student's or the instructor's page, rendered in the launch response."""

from __future__ import annotations

from flask import Response
from sqlalchemy.orm import Session

from lti_tool.lti.session import LtiSession


def render_landing(session: Session, lti_session: LtiSession) -> Response:
    # Looked up at call time so a subsystem that replaces a page function is picked up.
    from lti_tool.views import instructor, student

    if lti_session.is_instructor:
        return instructor.render_instructor_home(session, lti_session)
    return student.render_student_home(session, lti_session)
