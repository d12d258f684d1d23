"""Helpers shared by the pages a launch renders: the session token meta tag and who is signed in."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from flask import Response, g, make_response, render_template
from flask_babel import gettext as _
from flask_babel import refresh
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
    role_label: str  # in the page's language
    is_test_user: bool
    role: str = "guest"  # instructor | learner | guest (stable, for data-role)

    @property
    def display_name(self) -> str:
        return self.user.display_name

    @property
    def course_name(self) -> str | None:
        return self.context.display_name if self.context else None


def role_key(lti_session: LtiSession) -> str:
    if lti_session.is_instructor:
        return "instructor"
    return "learner" if lti_session.is_learner else "guest"


def role_label(lti_session: LtiSession) -> str:
    """The course role as the page shows it (translated: call inside a request)."""
    key = role_key(lti_session)
    if key == "instructor":
        return _("Instructor")
    if key == "learner":
        return _("Student")
    return _("Guest (no course role)")


def _launched(lti_session: LtiSession) -> Any:
    """The launch this request just validated, when ``lti_session`` is its session (else None)."""
    launch = g.get("validated_launch")
    return launch if launch is not None and launch.lti_session is lti_session else None


def load_viewer(session: Session, lti_session: LtiSession) -> Viewer:
    launch = _launched(lti_session)
    if launch is not None:  # rendered by the launch itself: its rows are at hand
        user, context, link, registration = launch.user, launch.context, launch.resource_link, launch.registration
    else:
        user = session.get(User, lti_session.user_id)
        if user is None or user.registration_id != lti_session.registration_id:
            raise LookupError("the session's user no longer exists")
        context = session.get(Context, lti_session.context_id) if lti_session.context_id else None
        link = session.get(ResourceLink, lti_session.resource_link_id) if lti_session.resource_link_id else None
        registration = session.get(Registration, lti_session.registration_id)
    return Viewer(
        user=user,
        context=context,
        resource_link=link,
        registration=registration,
        role_label=role_label(lti_session),
        is_test_user=lti_session.is_test_user,
        role=role_key(lti_session),
    )


def session_token(lti_session: LtiSession) -> str:
    from lti_tool.app import get_settings

    launch = _launched(lti_session)
    if launch is not None:
        return str(launch.token)
    settings = get_settings()
    return issue_token(lti_session, secret=settings.secret(), ttl_seconds=settings.session_token_ttl_seconds)


def use_launch_locale(lti_session: LtiSession) -> None:
    """Translate the rest of this request into the launch's language (the locale selector reads ``g``)."""
    if g.get("lti_session") is not lti_session:
        g.lti_session = lti_session
        refresh()


def render_launched_page(template: str, session: Session, lti_session: LtiSession, status: int = 200,
                         **context: Any) -> Response:
    """Render ``template`` (extending base.html) with the session token meta tag and the viewer, in the launch's
    language (``lti_session.locale``)."""
    use_launch_locale(lti_session)
    viewer = load_viewer(session, lti_session)
    check = g.get("storage_check")
    context.setdefault("storage_check", asdict(check) if check is not None else None)
    html = render_template(template, viewer=viewer, lti_session=lti_session,
                           session_token=session_token(lti_session), **context)
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response
