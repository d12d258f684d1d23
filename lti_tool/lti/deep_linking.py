"""Deep Linking 2.0: the instructor picks an activity and its settings; we answer the platform with a signed
LtiDeepLinkingResponse carrying an ``ltiResourceLink`` (custom parameters, and a ``lineItem`` when accepted).

Subsystems offer activities by registering a provider: ``register_activity_provider(fn)`` where
``fn(session, lti_session) -> list[Activity]`` (the item bank lists one activity per bank).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Response, make_response, render_template
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from lti_tool.lti import advantage
from lti_tool.lti import claims as c
from lti_tool.lti.errors import LtiError
from lti_tool.lti.session import LtiSession
from lti_tool.models import LaunchRecord, Registration
from lti_tool.services import keys
from lti_tool.settings import Settings
from lti_tool.views.common import render_launched_page, use_launch_locale

RESPONSE_TTL_SECONDS = 300


@dataclass(frozen=True)
class SettingField:
    name: str
    label: str
    type: Literal["choice", "number", "text"]
    choices: tuple[tuple[str, str], ...] = ()  # (value, label)
    default: str = ""
    min: float | None = None
    max: float | None = None
    integer: bool = False  # whole numbers only (the form's step is 1; else any decimal is accepted)

    def parse(self, raw: str | None) -> str:
        value = (raw if raw is not None else self.default).strip()
        if self.type == "choice":
            allowed = [v for v, _ in self.choices]
            if value not in allowed:
                raise ValueError(f"{self.label}: choose one of {', '.join(allowed)}")
        elif self.type == "number":
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{self.label}: a number is needed") from None
            if not math.isfinite(number):  # "nan" passes every min/max comparison
                raise ValueError(f"{self.label}: a number is needed")
            if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
                raise ValueError(f"{self.label}: must be between {self.min} and {self.max}")
            if self.integer and not number.is_integer():
                raise ValueError(f"{self.label}: a whole number is needed")
            value = str(int(number)) if number.is_integer() else str(number)
        elif len(value) > 500:
            raise ValueError(f"{self.label}: at most 500 characters")
        return value


@dataclass(frozen=True)
class Activity:
    key: str
    title: str
    description: str
    custom: dict[str, str] = field(default_factory=dict)
    settings_schema: list[SettingField] = field(default_factory=list)
    score_maximum: float = 100.0
    tag: str = "adaptive-practice"


ActivityProvider = Callable[[Session, LtiSession], list[Activity]]
ACTIVITY_PROVIDERS: list[ActivityProvider] = []


def register_activity_provider(fn: ActivityProvider) -> ActivityProvider:
    """Offer activities in the deep linking picker. Usable as a decorator."""
    if fn not in ACTIVITY_PROVIDERS:
        ACTIVITY_PROVIDERS.append(fn)
    return fn


def builtin_adaptive_practice(session: Session, lti_session: LtiSession) -> list[Activity]:
    """Always available, so deep linking works before any item bank exists (texts in the instructor's language)."""
    return [
        Activity(
            key="adaptive-practice",
            title=_("Adaptive practice"),
            description=_("Questions chosen for each student from what they already master."),
            custom={"activity": "adaptive-practice"},
            settings_schema=[
                SettingField("goal", _("Goal"), "choice",
                             (("mastery", _("Reach mastery")), ("practice", _("Fixed number of questions"))),
                             "mastery"),
                SettingField("questions", _("Questions (for a fixed number)"), "number", default="10", min=1,
                             max=200, integer=True),
            ],
        )
    ]


register_activity_provider(builtin_adaptive_practice)


def list_activities(session: Session, lti_session: LtiSession) -> list[Activity]:
    """Every provider's activities (first key wins); the built-in one only when nobody else offers any."""
    seen: dict[str, Activity] = {}
    for provider in ACTIVITY_PROVIDERS:
        if provider is builtin_adaptive_practice:
            continue
        for activity in provider(session, lti_session):
            seen.setdefault(activity.key, activity)
    if not seen:
        for activity in builtin_adaptive_practice(session, lti_session):
            seen.setdefault(activity.key, activity)
    return list(seen.values())


def dl_settings(session: Session, lti_session: LtiSession) -> tuple[LaunchRecord, dict[str, Any]]:
    record = session.get(LaunchRecord, lti_session.launch_id)
    if (record is None or record.registration_id != lti_session.registration_id
            or record.message_type != c.DEEP_LINKING_REQUEST):
        raise LtiError("This deep linking session is unknown or expired: start again from the course.", status=400)
    return record, dict(record.claims.get(c.DL_SETTINGS) or {})


def render_picker(session: Session, lti_session: LtiSession) -> Response:
    use_launch_locale(lti_session)  # the providers' texts too
    _, settings = dl_settings(session, lti_session)
    accept_types = settings.get("accept_types") or []
    return render_launched_page(
        "lti/deep_link.html", session, lti_session,
        activities=list_activities(session, lti_session),
        accepts_links="ltiResourceLink" in accept_types,
        dl_title=settings.get("title"),
    )


def build_response(
    session: Session,
    settings: Settings,
    lti_session: LtiSession,
    activity_key: str | None,
    form: dict[str, str],
) -> tuple[str, str, dict[str, Any]]:
    """Sign the LtiDeepLinkingResponse. Returns (return_url, jwt, content_item or {})."""
    record, dl = dl_settings(session, lti_session)
    reg = session.get(Registration, record.registration_id)
    assert reg is not None
    return_url = dl.get("deep_link_return_url")
    if not isinstance(return_url, str) or not return_url.startswith(("https://", "http://")):
        raise LtiError("The platform's deep_link_return_url is missing or not a URL.")
    items: list[dict[str, Any]] = []
    item: dict[str, Any] = {}
    if activity_key:
        if "ltiResourceLink" not in (dl.get("accept_types") or []):
            raise LtiError("This placement in the LMS does not accept activities (ltiResourceLink).", status=400)
        activity = next((a for a in list_activities(session, lti_session) if a.key == activity_key), None)
        if activity is None:
            raise LtiError(f"Unknown activity {activity_key!r}.", status=400)
        custom = dict(activity.custom)
        for setting in activity.settings_schema:
            try:
                custom[setting.name] = setting.parse(form.get(setting.name))
            except ValueError as exc:
                raise LtiError(str(exc), status=400) from exc
        title = (form.get("title") or "").strip()[:200] or activity.title
        line_item = None
        if dl.get("accept_lineitem", True) is not False:
            line_item = {"score_maximum": activity.score_maximum, "label": title, "resource_id": activity.key,
                         "tag": activity.tag}
        try:
            item = advantage.resource_link_item(url=settings.base_url + "/lti/launch", title=title,
                                                text=activity.description, custom=custom, line_item=line_item)
        except ValueError as exc:
            raise LtiError(f"The activity {activity.key!r} has an invalid score maximum: {exc}", status=500) from exc
        items.append(item)
    # The envelope is ours, not pylti1p3's DeepLink.get_message_jwt: that one sends ``data: null`` when the
    # platform sent none, no ``azp`` and no ``msg``, and signs with a key it is handed; ours signs with the
    # tool's rotating key store (``kid`` from our JWKS).
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": reg.client_id,
        "aud": reg.issuer,
        "azp": reg.client_id,
        "iat": now,
        "exp": now + RESPONSE_TTL_SECONDS,
        "nonce": secrets.token_urlsafe(16),
        c.DEPLOYMENT_ID: record.claims[c.DEPLOYMENT_ID],
        c.MESSAGE_TYPE: c.DEEP_LINKING_RESPONSE,
        c.VERSION: c.LTI_VERSION,
        c.DL_CONTENT_ITEMS: items,
    }
    if "data" in dl:
        payload[c.DL_DATA] = dl["data"]
    if not items:
        payload[c.DL_MSG] = "Nothing was added."
    token = keys.sign_jwt(session, settings.secret(), payload)
    return return_url, token, item


def render_autopost(return_url: str, token: str) -> Response:
    response = make_response(render_template("lti/autopost.html", action=return_url, fields={"JWT": token}))
    response.headers["Cache-Control"] = "no-store"
    return response
