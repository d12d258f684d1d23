"""The instructor's course page, made of panels other subsystems register (roster, failed grades, mastery)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, render_template
from markupsafe import Markup
from sqlalchemy.orm import Session

from lti_tool.logs import get_logger
from lti_tool.lti.session import LtiSession
from lti_tool.views.common import render_launched_page, use_launch_locale

log = get_logger(__name__)

Panel = Callable[[Session, LtiSession], "tuple[str, dict[str, Any]] | None"]

INSTRUCTOR_PANELS: list[Panel] = []


def register_instructor_panel(fn: Panel) -> Panel:
    """Add a panel: ``fn(session, lti_session) -> (template_name, context) | None``. Usable as a decorator."""
    if fn not in INSTRUCTOR_PANELS:
        INSTRUCTOR_PANELS.append(fn)
    return fn


def render_instructor_home(session: Session, lti_session: LtiSession) -> Response:
    """The course page; each panel's template is rendered with its own context plus ``lti_session``."""
    use_launch_locale(lti_session)  # panels are rendered first: in the launch's language too
    panels: list[Markup] = []
    for panel in INSTRUCTOR_PANELS:
        result = panel(session, lti_session)
        if result is not None:
            template_name, context = result
            # render_template autoescapes: the result is safe HTML by construction.
            html = render_template(template_name, **{"lti_session": lti_session, **context})
            panels.append(Markup(html))  # noqa: S704
    return render_launched_page("instructor/home.html", session, lti_session, panels=panels)
