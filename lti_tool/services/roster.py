"""Roster sync through Names and Role Provisioning Services 2.0 (NRPS).

* Every page is followed (``Link: <...>; rel="next"``, quoted or not; Canvas lists current, next, first and last on
  one line and pages by 50). The next URL is used exactly as given (pylti1p3 lower-cases it, which breaks it).
* A sync started from a launch in a resource link asks for that link's members (``rlid``): new members are added,
  statuses the LMS states (Inactive, Deleted) are applied. The scheduled sync asks for the whole course and marks
  members who are no longer listed inactive (their data is kept, never deleted); when the platform gave a
  ``differences`` link, the next scheduled sync asks only for the changes since then.
* Only the NRPS scope is requested, and only when the launch claimed the service; a course without it gets
  status ``unavailable`` with a message for the instructor page, not an error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from flask_babel import gettext
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lti_tool.logs import get_logger
from lti_tool.models import Context, Membership, Registration, ResourceLink, RosterSync, User, utcnow
from lti_tool.services import tokens
from lti_tool.services.grades import _call, _registration_for_context, parse_link_header, with_query
from lti_tool.services.lti_http import LtiHttp, LtiHttpError
from lti_tool.signals import roster_members_added

log = get_logger(__name__)

SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEMBERSHIP_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGES = 1000


def N_(message: str) -> str:
    """Marks ``message`` for extraction (``make translations``); it is translated where it is shown."""
    return message


# Stored (in English) in roster_sync.message and logged; status() translates it for the instructor page.
NO_NRPS_MESSAGE = N_(
    "The LMS did not grant this tool the roster service (Names and Role Provisioning Services) for this course, "
    "so the class list fills in as students launch the activity. An LMS administrator can enable it in the "
    "tool's settings (Moodle: 'IMS LTI Names and Role Provisioning'; Canvas: the developer key's "
    "'Can retrieve user data associated with the context the tool is installed in' scope)."
)

INSTRUCTOR_ROLES = ("instructor", "administrator", "contentdeveloper", "teachingassistant", "mentor")


@dataclass
class RosterReport:
    status: str = "ok"
    pages: int = 0
    members: int = 0
    added: int = 0
    inactivated: int = 0
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def nrps_claim(context: Context | None) -> dict[str, Any]:
    services = (context.services or {}) if context is not None else {}
    nrps = services.get("nrps") or {}
    return nrps if isinstance(nrps, dict) else {}


def has_nrps(context: Context | None) -> bool:
    return bool(nrps_claim(context).get("context_memberships_url"))


def _status_row(session: Session, context_id: int) -> RosterSync:
    row = session.get(RosterSync, context_id)
    if row is None:
        row = RosterSync(context_id=context_id, status="never")
        session.add(row)
        session.flush()
    return row


def mark_unavailable(session: Session, context_id: int) -> None:
    with session.begin_nested():
        row = _status_row(session, context_id)
        row.status = "unavailable"
        row.message = NO_NRPS_MESSAGE


def status(session: Session, context: Context) -> dict[str, Any]:
    """What the instructor page shows about the roster of ``context``."""
    row = session.get(RosterSync, context.id)
    members = session.scalars(select(Membership).where(Membership.context_id == context.id)).all()
    active = sum(1 for m in members if m.status == "active")
    base = {"available": has_nrps(context), "active_members": active, "inactive_members": len(members) - active}
    if not has_nrps(context):
        return {**base, "status": "unavailable", "message": gettext(NO_NRPS_MESSAGE)}
    if row is None:
        return {**base, "status": "never", "message": gettext("The roster has not been synchronised yet.")}
    return {
        **base,
        "status": row.status,
        "message": gettext(NO_NRPS_MESSAGE) if row.message == NO_NRPS_MESSAGE else row.message,
        "last_success_at": row.last_success_at.isoformat() if row.last_success_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "members_total": row.members_total,
        "members_added": row.members_added,
        "members_inactivated": row.members_inactivated,
    }


def due_contexts(session: Session, settings: Any, limit: int = 100) -> list[int]:
    """Courses with NRPS whose last full sync is older than ``roster_sync_interval_seconds``."""
    interval = int(settings.roster_sync_interval_seconds)
    if interval <= 0:
        return []
    cutoff = utcnow() - dt.timedelta(seconds=interval)
    rows = session.execute(
        select(Context, RosterSync).outerjoin(RosterSync, RosterSync.context_id == Context.id)
        .where(Context.services.is_not(None))
    ).all()
    due = []
    for context, sync in rows:
        if not has_nrps(context):
            continue
        if sync is None or sync.last_success_at is None or sync.last_success_at < cutoff:
            if sync is not None and sync.locked_until is not None and sync.locked_until > utcnow():
                continue
            due.append(context.id)
        if len(due) >= limit:
            break
    return due


def _claim(session: Session, context_id: int, seconds: float) -> bool:
    _status_row(session, context_id)
    now = utcnow()
    result = session.execute(
        update(RosterSync)
        .where(RosterSync.context_id == context_id,
               (RosterSync.locked_until.is_(None)) | (RosterSync.locked_until < now))
        .values(locked_until=now + dt.timedelta(seconds=seconds), status="running", started_at=now)
        .execution_options(synchronize_session=False)
    )
    return (getattr(result, "rowcount", 0) or 0) == 1


def role_flags(roles: list[str]) -> tuple[bool, bool]:
    """(instructor, learner) from context roles; institution roles give no course rights."""
    instructor = learner = False
    for role in roles:
        if "/institution/" in role or "/system/" in role:
            continue
        name = role.rsplit("#", 1)[-1].rsplit("/", 1)[-1].lower()
        if name in INSTRUCTOR_ROLES:
            instructor = True
        elif name == "learner":
            learner = True
    return instructor, learner


def sync_roster(
    db: Any, settings: Any, context_id: int, *, resource_link_id: int | None = None, worker_id: str = "",
    http: LtiHttp | None = None,
) -> RosterReport:
    """Fetch the roster and apply it; the sync status row says how it went."""
    lock_seconds = max(60.0, float(settings.http_timeout_seconds) * 10)
    with db.session() as s:
        context = s.get(Context, context_id)
        if context is None:
            return RosterReport(status="gone")
        if not has_nrps(context):
            mark_unavailable(s, context_id)
            return RosterReport(status="unavailable", message=NO_NRPS_MESSAGE)
        if not _claim(s, context_id, lock_seconds):
            return RosterReport(status="busy")
        nrps = nrps_claim(context)
        registration = _registration_for_context(s, context_id)
        sync = s.get(RosterSync, context_id)
        rlid = None
        if resource_link_id is not None:
            link = s.get(ResourceLink, resource_link_id)
            if link is not None and link.context_id == context_id:
                rlid = link.resource_link_id
        full = rlid is None
        use_differences = full and bool(sync.differences_url) and sync.last_success_at is not None
        url = sync.differences_url if use_differences else nrps["context_memberships_url"]
        if rlid:
            url = with_query(url, {"rlid": rlid})
        reg_id = registration.id
    report = RosterReport()
    own = http is None
    client = http or LtiHttp.from_settings(settings)
    members: list[dict[str, Any]] = []
    differences_url: str | None = None
    try:
        pages = 0
        next_url: str | None = url
        while next_url and pages < MAX_PAGES:
            with db.session() as s:
                registration = s.get(Registration, reg_id)
                response = _call(s, settings, client, registration, [SCOPE_NRPS], "GET", next_url,
                                 accept=MEMBERSHIP_TYPE)
            pages += 1
            body = response.json()
            page_members = body.get("members") if isinstance(body, dict) else None
            members.extend(m for m in (page_members or []) if isinstance(m, dict))
            links = parse_link_header(response.headers.get("Link"))
            differences_url = links.get("differences", differences_url)
            next_url = links.get("next")
        report.pages = pages
    except (LtiHttpError, tokens.TokenError, ValueError) as exc:
        with db.session() as s:
            row = _status_row(s, context_id)
            row.status = "error"
            # the technical cause only: the instructor page frames it in the page's language
            row.message = str(exc)[:1000]
            row.finished_at = utcnow()
            row.locked_until = None
        log.warning("roster_sync_failed", context_id=context_id, error=str(exc))
        return RosterReport(status="error", message=str(exc))
    finally:
        if own:
            client.close()
    with db.session() as s:
        _apply(s, context_id, reg_id, members, report, inactivate_missing=full and not use_differences)
        row = _status_row(s, context_id)
        now = utcnow()
        row.status = "ok"
        row.message = None
        row.finished_at = now
        if full:
            row.last_success_at = now
            row.differences_url = differences_url
        row.resource_link_id = resource_link_id
        row.members_total = report.members
        row.members_added = report.added
        row.members_inactivated = report.inactivated
        row.locked_until = None
    log.info("roster_synced", context_id=context_id, pages=report.pages, members=report.members,
             added=report.added, inactivated=report.inactivated, full=full)
    return report


def _apply(
    s: Session, context_id: int, registration_id: int, members: list[dict[str, Any]], report: RosterReport,
    *, inactivate_missing: bool,
) -> None:
    by_sub: dict[str, dict[str, Any]] = {}
    for m in members:
        sub = m.get("user_id")
        if isinstance(sub, str | int) and str(sub):
            by_sub[str(sub)] = m
    users = {u.sub: u for u in s.scalars(select(User).where(User.registration_id == registration_id,
                                                               User.sub.in_(list(by_sub))))} if by_sub else {}
    memberships = {m.user_id: m for m in s.scalars(select(Membership).where(Membership.context_id == context_id))}
    seen: set[int] = set()
    joined: list[int] = []  # learner members added or active again: they get their learner state (signal)
    for sub, member in by_sub.items():
        user = users.get(sub)
        if user is None:
            user = User(registration_id=registration_id, sub=sub)
            s.add(user)
        for attr in ("name", "given_name", "family_name", "email"):
            value = member.get(attr)
            if isinstance(value, str) and value:
                setattr(user, attr, value[:320] if attr == "email" else value[:255])
        s.flush()
        roles = [r for r in member.get("roles") or [] if isinstance(r, str)]
        instructor, learner = role_flags(roles)
        lms_status = str(member.get("status") or "Active").lower()
        active = lms_status == "active"
        membership = memberships.get(user.id)
        if membership is None:
            membership = Membership(context_id=context_id, user_id=user.id, source="nrps")
            s.add(membership)
            memberships[user.id] = membership
            if active:
                report.added += 1
        membership.roles = roles
        membership.is_instructor = instructor
        membership.is_learner = learner
        if membership.status == "active" and not active:
            report.inactivated += 1
        if active and learner and (membership.status != "active" or membership.id is None):
            joined.append(user.id)
        membership.status = "active" if active else "inactive"
        seen.add(user.id)
        report.members += int(active)
    if inactivate_missing:
        for user_id, membership in memberships.items():
            if user_id not in seen and membership.status == "active":
                membership.status = "inactive"
                report.inactivated += 1
    s.flush()
    if joined:
        roster_members_added.send(None, session=s, context_id=context_id, user_ids=joined)
