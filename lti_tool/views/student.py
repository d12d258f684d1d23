"""The learner's practice page: one item at a time, immediate feedback, hints, progress, mastery per skill.

The page is a shell; ``static/practice.js`` drives it through the JSON API (``/api/v1/practice/*``) with the
session token from ``<meta name="adaptive-lti-session">`` (no cookie). Texts are translated server-side
(Flask-Babel, the launch's locale) and handed to the script as JSON.
"""

from __future__ import annotations

import functools

from flask import Response, g
from flask_babel import get_locale, refresh
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from lti_tool.i18n import plural_forms
from lti_tool.lti.session import LtiSession
from lti_tool.views.common import render_launched_page


def page_strings() -> dict[str, str | dict[str, str]]:
    """The texts practice.js shows, in the page's language."""
    return dict(_page_strings(str(get_locale())))


@functools.lru_cache(maxsize=8)
def _page_strings(locale: str) -> dict[str, str | dict[str, str]]:
    """Translated once per locale and process (about 30 gettext calls per launch otherwise)."""
    return {
        "loading": _("Loading the next question…"),
        "check": _("Check answer"),
        "checking": _("Checking…"),
        "next": _("Next question"),
        "hint": _("Show a hint"),
        "no_more_hints": _("No more hints"),
        "hint_n": _("Hint %(n)s", n="{n}"),
        "correct": _("Correct!"),
        "incorrect": _("Not quite."),
        "correct_answer": _("A correct answer: %(answer)s", answer="{answer}"),
        "your_answer": _("Your answer"),
        "choose_one": _("Choose one answer"),
        "choose_many": _("Choose all correct answers"),
        "question": _("Question"),
        "why": _("Why this question:"),
        "done_title": _("Goal reached"),
        "done": _("You have mastered every skill of this assignment. Well done! You can close this page."),
        "error": _("Something went wrong: %(message)s", message="{message}"),
        "retry": _("Try again"),
        "skill": _("Skill"),
        "mastery": _("Mastery"),
        "status": _("Status"),
        "mastered": _("Mastered"),
        "in_progress": _("In progress"),
        "not_in_goal": _("Not in this assignment"),
        "progress": _("%(n)s of %(total)s skills mastered", n="{n}", total="{total}"),
        "answered": plural_forms("%(n)s question answered", "%(n)s questions answered", n="{n}"),
        "score": _("Score sent to your course: %(score)s%%", score="{score}"),
        "resumed": _("Welcome back: here is the question you were working on."),
        "review_open": _("Practise %(title)s", title="{title}"),
        "review_done": _("%(title)s (done)", title="{title}"),
        "review_back": _("Back to %(title)s", title="{title}"),
        "review_now": _("Now practising: %(title)s", title="{title}"),
    }


def render_student_home(session: Session, lti_session: LtiSession) -> Response:
    g.lti_session = lti_session  # the locale selector reads the launch's locale from here
    refresh()
    return render_launched_page("student/home.html", session, lti_session, strings=page_strings())
