"""Helpers shared by the pages a launch renders: the session token meta tag and who is signed in."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from flask import Response, g, make_response, render_template
from sqlalchemy.orm import Session

from lti_tool.lti.session import LtiSession, issue_token
from lti_tool.models import Context, Registration, ResourceLink, User


@dataclass(frozen=True)
class Viewer:
    """What every launched page shows: who, in which course, with what role."""

    user: User
    context: Context | None
    resource_link: ResourceLink | None
    registration: Registration | None
    role_label: str
    is_test_user: bool

    @property
    def display_name(self) -> str:
        return self.user.display_name

    @property
    def course_name(self) -> str | None:
        return self.context.display_name if self.context else None


def role_label(lti_session: LtiSession) -> str:
    if lti_session.is_instructor:
        return "Instructor"
    if lti_session.is_learner:
        return "Student"
    return "Guest (no course role)"


def load_viewer(session: Session, lti_session: LtiSession) -> Viewer:
    user = session.get(User, lti_session.user_id)
    if user is None or user.registration_id != lti_session.registration_id:
        raise LookupError("the session's user no longer exists")
    context = session.get(Context, lti_session.context_id) if lti_session.context_id else None
    link = session.get(ResourceLink, lti_session.resource_link_id) if lti_session.resource_link_id else None
    return Viewer(
        user=user,
        context=context,
        resource_link=link,
        registration=session.get(Registration, lti_session.registration_id),
        role_label=role_label(lti_session),
        is_test_user=lti_session.is_test_user,
    )


def session_token(lti_session: LtiSession) -> str:
    from lti_tool.app import get_settings

    settings = get_settings()
    return issue_token(lti_session, secret=settings.secret(), ttl_seconds=settings.session_token_ttl_seconds)


def render_launched_page(template: str, session: Session, lti_session: LtiSession, status: int = 200,
                         **context: Any) -> Response:
    """Render ``template`` (extending base.html) with the session token meta tag and the viewer."""
    viewer = load_viewer(session, lti_session)
    check = g.get("storage_check")
    context.setdefault("storage_check", asdict(check) if check is not None else None)
    html = render_template(template, viewer=viewer, lti_session=lti_session,
                           session_token=session_token(lti_session), **context)
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response
