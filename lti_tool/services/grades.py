"""Grade passback (LTI Assignment and Grade Services 2.0) through a durable outbox.

The outbox row is the truth. :func:`record_score` writes it in the caller's transaction (committed together with
the attempt that changed the score) and asks for delivery after that commit. :func:`deliver_line_item` delivers
the due rows of one line item, one at a time and in order, holding a lease on the line item so that no two workers
post to the same line item at once (Canvas rate-limits parallel posts; order matters for "last one wins"):

* delivered on 2xx;
* retried with exponential backoff and full jitter on 5xx, 429, timeouts and dropped connections, honouring
  ``Retry-After`` (the other due rows of the line item wait too: the LMS is down for all of them);
* Moodle 409 (a second score for the user within the same second): sent again a moment later with a fresh
  timestamp, so the newest score is not lost;
* Canvas 400 "before last updated timestamp": the LMS already holds a result at least as new (a re-delivery
  after a crash): counted as delivered;
* other 4xx (Moodle 400 for a user who is not gradable, Canvas 422 for the Test Student): final, with the reason;
* after ``grade_max_attempts`` attempts: failed, shown to the instructor with a retry button, counted in /metrics.

A newer score for the same (line item, user) supersedes older undelivered ones; each score carries its creation
``timestamp``, so re-delivery is harmless. :func:`sweep` finds everything due, so a lost job message loses nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lti_tool.logs import get_logger
from lti_tool.lti import advantage
from lti_tool.models import (
    Context,
    Deployment,
    LineItem,
    LmsResult,
    Registration,
    ResourceLink,
    ScoreOutbox,
    User,
    utcnow,
)
from lti_tool.models.grades import DELIVERED, FAILED, PENDING, REJECTED, SUPERSEDED
from lti_tool.services import tokens
from lti_tool.services.lti_http import AUTH, CONFLICT, LtiHttp, LtiHttpError

log = get_logger(__name__)

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
CANVAS_SUBMISSION_EXT = "https://canvas.instructure.com/lti/submission"
CANVAS_SUBMISSION_TYPE_EXT = "https://canvas.instructure.com/lti/submission_type"
SCORE_CONTENT_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_CONTENT_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEM_CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
RESULT_CONTAINER_TYPE = "application/vnd.ims.lis.v2.resultcontainer+json"
MOODLE_SAME_SECOND_DELAY = 1.1  # seconds: Moodle keeps grade times in whole seconds


class LineItemUnavailable(RuntimeError):
    """The line item cannot be created or found with the scopes granted; the message says why."""


# ------------------------------------------------------------------------------------------ helpers
def ags_claim(context: Context | None) -> dict[str, Any]:
    services = (context.services or {}) if context is not None else {}
    ags = services.get("ags") or {}
    return ags if isinstance(ags, dict) else {}


def granted_scopes(context: Context | None) -> set[str]:
    scope = ags_claim(context).get("scope") or []
    return {s for s in scope if isinstance(s, str)}


def can_score(context: Context | None) -> bool:
    return SCOPE_SCORE in granted_scopes(context)


def service_url(lineitem_url: str, segment: str) -> str:
    """``{lineitem}/scores`` with the segment in the PATH, before any query (Moodle's ``...lineitem?type_id=1``
    becomes ``...lineitem/scores?type_id=1``)."""
    parts = urlsplit(lineitem_url)
    path = parts.path.rstrip("/") + "/" + segment
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query and extra else (parts.query or extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def is_canvas(registration: Registration) -> bool:
    if (registration.product_family or "").lower() == "canvas":
        return True
    host = urlsplit(registration.issuer).netloc.lower()
    return host.endswith("instructure.com") or host.endswith("canvaslms.com")


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_worker_id() -> str:
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _registration_for_context(session: Session, context_id: int) -> Registration:
    return session.scalars(
        select(Registration)
        .join(Deployment, Deployment.registration_id == Registration.id)
        .join(Context, Context.deployment_id == Deployment.id)
        .where(Context.id == context_id)
    ).one()


def _after_commit(session: Session, name: str, **kwargs: Any) -> None:
    from lti_tool import jobs

    jobs.enqueue_after_commit(session, name, **kwargs)


# --------------------------------------------------------------------------------------- line items
def create_line_item(
    session: Session,
    *,
    context_id: int,
    label: str,
    score_maximum: float,
    resource_id: str,
    tag: str | None = None,
    resource_link_id: int | None = None,
    canvas_launch_url: str | None = None,
) -> LineItem:
    """Find-or-create the line item for an activity by (resourceId, tag); created at the LMS by a job after the
    caller commits (its ``url`` stays ``None`` until then; scores recorded meanwhile wait for it)."""
    query = select(LineItem).where(LineItem.context_id == context_id, LineItem.resource_id == resource_id)
    query = query.where(LineItem.tag == tag) if tag is not None else query.where(LineItem.tag.is_(None))
    existing = session.scalars(query.order_by(LineItem.id).limit(1)).first()
    if existing is not None:
        return existing
    item = LineItem(
        context_id=context_id, resource_link_id=resource_link_id, label=label, score_maximum=score_maximum,
        resource_id=resource_id, tag=tag, canvas_launch_url=canvas_launch_url, source="pending",
    )
    session.add(item)
    session.flush()
    _after_commit(session, "grades.ensure_line_item", line_item_id=item.id)
    return item


def line_item_for_resource_link(
    session: Session, resource_link: ResourceLink, context: Context | None = None, *,
    score_maximum: float = 100.0,
) -> LineItem | None:
    """The line item scores of this resource link go to: the launch's ``lineitem`` when the platform made one,
    else one we find or create through the line items service. ``None`` if the platform offers neither."""
    context = context or session.get(Context, resource_link.context_id)
    ags = ags_claim(context)
    url = resource_link.lineitem_url or None
    if url:
        item = session.scalars(
            select(LineItem).where(LineItem.context_id == resource_link.context_id, LineItem.url == url)
        ).first()
        if item is None:
            item = LineItem(
                context_id=resource_link.context_id, resource_link_id=resource_link.id, url=url,
                label=resource_link.title or "", score_maximum=score_maximum,
                resource_id=resource_link.resource_link_id, source="launch",
            )
            session.add(item)
            session.flush()
        elif item.resource_link_id is None:
            item.resource_link_id = resource_link.id
        return item
    item = session.scalars(
        select(LineItem).where(LineItem.resource_link_id == resource_link.id).order_by(LineItem.id).limit(1)
    ).first()
    if item is not None:
        return item
    scopes = granted_scopes(context)
    if not ags.get("lineitems") or not scopes & {SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY}:
        return None
    return create_line_item(
        session, context_id=resource_link.context_id, label=resource_link.title or "Adaptive practice",
        score_maximum=score_maximum, resource_id=resource_link.resource_link_id, tag="adaptive-lti",
        resource_link_id=resource_link.id,
    )


def _lms_resource_link_id(session: Session, item: LineItem) -> str | None:
    if item.resource_link_id is None:
        return None
    link = session.get(ResourceLink, item.resource_link_id)
    return link.resource_link_id if link is not None else None


def ensure_remote_line_item(session: Session, settings: Any, http: LtiHttp, item: LineItem) -> str:
    """Give ``item`` its LMS URL: find it by resourceId/tag, else create it. Commits nothing itself."""
    if item.url:
        return item.url
    context = session.get(Context, item.context_id)
    ags = ags_claim(context)
    container = ags.get("lineitems")
    scopes = granted_scopes(context)
    if not container:
        raise LineItemUnavailable("the platform gave no line items endpoint for this course")
    registration = _registration_for_context(session, item.context_id)
    read_scope = SCOPE_LINEITEM if SCOPE_LINEITEM in scopes else SCOPE_LINEITEM_READONLY
    if read_scope not in scopes:
        raise LineItemUnavailable("the platform granted no line item scope")
    params = {"resource_id": item.resource_id or ""}
    if item.tag:
        params["tag"] = item.tag
    rl_id = _lms_resource_link_id(session, item)
    if rl_id:
        params["resource_link_id"] = rl_id
    response = _call(session, settings, http, registration, [read_scope], "GET", with_query(container, params),
                     accept=LINEITEM_CONTAINER_TYPE)
    for found in _json_list(response):
        if found.get("resourceId") == item.resource_id and (not item.tag or found.get("tag") == item.tag):
            item.url = found.get("id")
            item.source = "found"
            return str(item.url)
    if SCOPE_LINEITEM not in scopes:
        raise LineItemUnavailable("the platform allows scores but not creating line items (ask the LMS admin)")
    body = advantage.line_item_body(score_maximum=item.score_maximum, label=item.label or "Adaptive practice",
                                    resource_id=item.resource_id, tag=item.tag, resource_link_id=rl_id)
    if item.canvas_launch_url and is_canvas(registration):
        body[CANVAS_SUBMISSION_TYPE_EXT] = {"type": "external_tool", "external_tool_url": item.canvas_launch_url}
    response = _call(session, settings, http, registration, [SCOPE_LINEITEM], "POST", container,
                     json_body=body, content_type=LINEITEM_CONTENT_TYPE, accept=LINEITEM_CONTENT_TYPE)
    created = response.json()
    item.url = created.get("id")
    if not item.url:
        raise LineItemUnavailable("the platform created the line item but returned no id")
    item.source = "created"
    item.last_error = None
    return str(item.url)


def _json_list(response: Any) -> list[dict[str, Any]]:
    try:
        data = response.json()
    except ValueError:
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _call(  # noqa: PLR0917 - one call site shape, read like an HTTP line
    session: Session, settings: Any, http: LtiHttp, registration: Registration, scopes: list[str],
    method: str, url: str, **kwargs: Any,
) -> Any:
    """One service call with a cached token; a 401 drops the token and retries once with a new one."""
    for attempt in (1, 2):
        token = tokens.get_access_token(session, settings, registration, scopes, http=http)
        try:
            return http.request(method, url, token=token, **kwargs)
        except LtiHttpError as exc:
            if exc.kind == AUTH and attempt == 1:
                tokens.invalidate(session, settings, registration, scopes)
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


# ------------------------------------------------------------------------------------------- record
def record_score(
    session: Session,
    *,
    resource_link_id: int | None = None,
    line_item_id: int | None = None,
    user_id: int,
    score_given: float,
    score_maximum: float,
    comment: str | None = None,
    activity_progress: str = "Completed",
    grading_progress: str = "FullyGraded",
    timestamp: dt.datetime | None = None,
) -> ScoreOutbox | None:
    """Write the outbox row in the CALLER's transaction; delivery is requested after the caller commits.

    Exactly one of ``resource_link_id`` (the activity's own line item: the launch's, or one found/created for it)
    and ``line_item_id`` (a :class:`LineItem` the tool made, e.g. a personalized review's gradebook column) names
    where the score goes. A line item the LMS has not created yet (``url`` still ``None``) is fine: the row waits
    for it and is delivered once it exists.

    Returns ``None`` (writes nothing) for a test user (Canvas Student View, Moodle preview) or when the course
    granted no AGS score scope or offers no line item. Newer rows supersede older undelivered ones.
    """
    if (resource_link_id is None) == (line_item_id is None):
        raise ValueError("give exactly one of resource_link_id and line_item_id")
    user = session.get(User, user_id)
    if user is None:
        raise ValueError("unknown user")
    link: ResourceLink | None = None
    item: LineItem | None = None
    if resource_link_id is not None:
        link = session.get(ResourceLink, resource_link_id)
        if link is None:
            raise ValueError("unknown resource link")
        context_id = link.context_id
    else:
        item = session.get(LineItem, line_item_id)
        if item is None:
            raise ValueError("unknown line item")
        context_id = item.context_id
    if user.is_test_user:
        return None
    context = session.get(Context, context_id)
    if line_item_id is not None and _registration_for_context(session, context_id).id != user.registration_id:
        raise ValueError("the user does not belong to the line item's platform")
    if not can_score(context):
        return None
    if link is not None:
        item = line_item_for_resource_link(session, link, context, score_maximum=score_maximum)
    if item is None:
        return None
    now = utcnow()
    ts = timestamp or now
    if ts.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    session.execute(
        update(ScoreOutbox)
        .where(ScoreOutbox.line_item_id == item.id, ScoreOutbox.user_id == user.id,
               ScoreOutbox.status.in_((PENDING, FAILED)))
        .values(status=SUPERSEDED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    row = ScoreOutbox(
        context_id=context_id, line_item_id=item.id, user_id=user.id,
        resource_link_id=link.id if link is not None else item.resource_link_id,
        score_given=float(score_given), score_maximum=float(score_maximum), comment=comment,
        activity_progress=activity_progress, grading_progress=grading_progress, timestamp=ts,
        submitted_at=ts, status=PENDING, attempts=0, next_attempt_at=now,
    )
    session.add(row)
    session.flush()
    _after_commit(session, "grades.deliver", line_item_id=item.id)
    return row


# ----------------------------------------------------------------------------------------- delivery
@dataclass
class DeliveryReport:
    claimed: bool = False
    delivered: int = 0
    retried: int = 0
    rejected: int = 0
    failed: int = 0
    outcomes: list[tuple[int, str]] = field(default_factory=list)


def claim_line_item(session: Session, line_item_id: int, worker_id: str, lease_seconds: float) -> bool:
    """Take the line item's lease with one atomic conditional UPDATE (safe on SQLite and PostgreSQL)."""
    now = utcnow()
    result = session.execute(
        update(LineItem)
        .where(LineItem.id == line_item_id,
               or_(LineItem.locked_until.is_(None), LineItem.locked_until < now, LineItem.locked_by == worker_id))
        .values(locked_by=worker_id, locked_until=now + dt.timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return (getattr(result, "rowcount", 0) or 0) == 1


def release_line_item(session: Session, line_item_id: int, worker_id: str) -> None:
    session.execute(
        update(LineItem)
        .where(LineItem.id == line_item_id, LineItem.locked_by == worker_id)
        .values(locked_by=None, locked_until=None)
        .execution_options(synchronize_session=False)
    )


def _due_rows_query(now: dt.datetime, line_item_id: int | None = None) -> Any:
    query = select(ScoreOutbox.id).where(ScoreOutbox.status == PENDING, ScoreOutbox.next_attempt_at <= now)
    if line_item_id is not None:
        query = query.where(ScoreOutbox.line_item_id == line_item_id)
    return query


def backoff_seconds(settings: Any, attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the platform's Retry-After."""
    cap = float(settings.grade_backoff_max_seconds)
    ceiling = min(cap, float(settings.grade_backoff_base_seconds) * (2 ** max(0, attempts - 1)))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 86400.0))
    return delay


def score_payload(row: ScoreOutbox, user: User, registration: Registration) -> dict[str, Any]:
    extra = None
    if is_canvas(registration):
        extra = {CANVAS_SUBMISSION_EXT: {"new_submission": True,
                                         "submitted_at": iso(row.submitted_at or row.timestamp)}}
    return advantage.score_body(
        user_id=user.sub, score_given=row.score_given, score_maximum=row.score_maximum,
        activity_progress=row.activity_progress, grading_progress=row.grading_progress,
        timestamp=iso(row.timestamp), comment=row.comment, extra=extra,
    )


def deliver_line_item(
    db: Any, settings: Any, line_item_id: int, *, worker_id: str | None = None, http: LtiHttp | None = None,
    max_rows: int | None = None,
) -> DeliveryReport:
    """Deliver the due outbox rows of one line item under its lease; no transaction is open during HTTP."""
    worker_id = worker_id or new_worker_id()
    lease = float(settings.grade_lease_seconds)
    report = DeliveryReport()
    own_http = http is None
    client = http or LtiHttp.from_settings(settings)
    try:
        while True:
            with db.session() as s:
                if not claim_line_item(s, line_item_id, worker_id, lease):
                    return report
            report.claimed = True
            try:
                stop = _deliver_claimed(db, settings, client, line_item_id, worker_id=worker_id, report=report,
                                        max_rows=max_rows)
            finally:
                with db.session() as s:
                    release_line_item(s, line_item_id, worker_id)
            if stop:
                return report
            # A score committed while we held the lease may have lost its own claim race: look once more.
            with db.session() as s:
                if s.scalars(_due_rows_query(utcnow(), line_item_id).limit(1)).first() is None:
                    return report
    finally:
        if own_http:
            client.close()


def _deliver_claimed(
    db: Any, settings: Any, http: LtiHttp, line_item_id: int, *, worker_id: str, report: DeliveryReport,
    max_rows: int | None,
) -> bool:
    """Returns True when the caller should stop (LMS unavailable, lease lost, row limit)."""
    lease = float(settings.grade_lease_seconds)
    done = 0
    soon: dt.datetime | None = None  # a row to send again in a moment (Moodle 409)
    while max_rows is None or done < max_rows:
        with db.session() as s:
            now = utcnow()
            renewed = s.execute(
                update(LineItem)
                .where(LineItem.id == line_item_id, LineItem.locked_by == worker_id)
                .values(locked_until=now + dt.timedelta(seconds=lease))
                .execution_options(synchronize_session=False)
            )
            if (getattr(renewed, "rowcount", 0) or 0) != 1:
                log.warning("grade_lease_lost", line_item_id=line_item_id)
                return True
            row_id = s.scalars(_due_rows_query(now, line_item_id).order_by(ScoreOutbox.id).limit(1)).first()
        if row_id is None:
            if soon is not None and soon - utcnow() < dt.timedelta(seconds=lease / 2):
                time.sleep(max(0.0, (soon - utcnow()).total_seconds()) + 0.01)
                soon = None
                continue
            return False
        done += 1
        outcome = _deliver_row(db, settings, http, row_id)
        report.outcomes.append((row_id, outcome))
        if outcome == DELIVERED:
            report.delivered += 1
        elif outcome == REJECTED:
            report.rejected += 1
        elif outcome == FAILED:
            report.failed += 1
        elif outcome == "retry":
            report.retried += 1
            return True  # the LMS is unavailable for this line item: the others wait with it
        elif outcome == "retry-soon":
            report.retried += 1
            soon = utcnow() + dt.timedelta(seconds=MOODLE_SAME_SECOND_DELAY)
    return True


def _deliver_row(db: Any, settings: Any, http: LtiHttp, row_id: int) -> str:
    # 1. read what to send (short transaction), get a line item URL and a token
    with db.session() as s:
        row = s.get(ScoreOutbox, row_id)
        if row is None or row.status != PENDING:
            return "skipped"
        item = s.get(LineItem, row.line_item_id)
        user = s.get(User, row.user_id)
        registration = _registration_for_context(s, row.context_id)
        if row.last_status_code == 409:  # Moodle refused a same-second score: send again, freshly stamped
            row.timestamp = utcnow()
        attempt = row.attempts + 1
        try:
            url = ensure_remote_line_item(s, settings, http, item)
        except LineItemUnavailable as exc:
            item.last_error = str(exc)
            return _schedule(s, settings, row, attempt, LtiHttpError("client", None, str(exc)), final=True)
        except (LtiHttpError, tokens.TokenError) as exc:
            err = exc if isinstance(exc, LtiHttpError) else (exc.error or LtiHttpError("transient", None, str(exc)))
            item.last_error = f"line item: {err}"
            return _wait_for_line_item(s, settings, row, err)
        payload = score_payload(row, user, registration)
        reg_id = registration.id
    # 2. post it (no transaction open)
    error: LtiHttpError | None = None
    try:
        with db.session() as s:
            registration = s.get(Registration, reg_id)
            _call(s, settings, http, registration, [SCOPE_SCORE], "POST", service_url(url, "scores"),
                  json_body=payload, content_type=SCORE_CONTENT_TYPE)
    except LtiHttpError as exc:
        error = exc
    except tokens.TokenError as exc:
        error = exc.error or LtiHttpError("transient", None, str(exc))
        if not error.retryable:  # token refused (bad scope, client disabled): the admin can fix it; retry
            error = LtiHttpError("transient", error.status, f"access token: {error}")
    # 3. record the outcome (conditional: a row superseded meanwhile stays superseded)
    with db.session() as s:
        row = s.get(ScoreOutbox, row_id)
        if error is None:
            return _mark_delivered(s, row, attempt)
        canvas_newer = error.status == 400 and "before last updated timestamp" in error.body
        if canvas_newer:
            return _mark_delivered(s, row, attempt, note="LMS already holds a result at least as new")
        if error.kind == CONFLICT:
            return _schedule(s, settings, row, attempt, error, final=False, delay=MOODLE_SAME_SECOND_DELAY)
        return _schedule(s, settings, row, attempt, error, final=not error.retryable)


def _mark_delivered(s: Session, row: ScoreOutbox, attempt: int, note: str | None = None) -> str:
    now = utcnow()
    s.execute(
        update(ScoreOutbox)
        .where(ScoreOutbox.id == row.id, ScoreOutbox.status == PENDING)
        .values(status=DELIVERED, delivered_at=now, attempts=attempt, last_error=note, last_status_code=None,
                timestamp=row.timestamp, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    log.info("score_delivered", outbox_id=row.id, line_item_id=row.line_item_id, attempts=attempt)
    return DELIVERED


def _wait_for_line_item(s: Session, settings: Any, row: ScoreOutbox, error: LtiHttpError) -> str:
    """The line item does not exist at the LMS yet and could not be created just now: the line item's rows wait
    for it (still pending, their attempts untouched, so they never fail for it) and are tried again with backoff
    (growing with how long the row has waited, never sooner than ``Retry-After``)."""
    now = utcnow()
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
    waited = max(0.0, (now - created).total_seconds())
    ceiling = min(float(settings.grade_backoff_max_seconds), max(float(settings.grade_backoff_base_seconds), waited))
    wait = random.uniform(0, ceiling)
    if error.retry_after is not None:
        wait = max(wait, min(error.retry_after, 86400.0))
    retry_at = now + dt.timedelta(seconds=wait)
    message = f"waiting for the LMS to create the gradebook column: {error}"[:1000]
    s.execute(
        update(ScoreOutbox)
        .where(ScoreOutbox.line_item_id == row.line_item_id, ScoreOutbox.status == PENDING,
               ScoreOutbox.next_attempt_at < retry_at)
        .values(next_attempt_at=retry_at, last_error=message, last_status_code=error.status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    log.info("score_waits_for_line_item", outbox_id=row.id, line_item_id=row.line_item_id, status=error.status,
             kind=error.kind)
    return "retry"


def wake_line_item_rows(session: Session, line_item_id: int) -> int:
    """Make the line item's waiting rows due now (its LMS URL just became known). Returns how many."""
    result = session.execute(
        update(ScoreOutbox)
        .where(ScoreOutbox.line_item_id == line_item_id, ScoreOutbox.status == PENDING)
        .values(next_attempt_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _schedule(
    s: Session, settings: Any, row: ScoreOutbox, attempt: int, error: LtiHttpError, *, final: bool,
    delay: float | None = None,
) -> str:
    now = utcnow()
    message = str(error)
    if error.body and error.status and 400 <= error.status < 500:
        message = f"{message}: {error.body[:300]}"
    values: dict[str, Any] = {"attempts": attempt, "last_error": message, "last_status_code": error.status,
                              "updated_at": now, "timestamp": row.timestamp}
    if final:
        values["status"] = REJECTED
        outcome = REJECTED
    elif attempt >= int(settings.grade_max_attempts):
        values["status"] = FAILED
        outcome = FAILED
    else:
        wait = delay if delay is not None else backoff_seconds(settings, attempt, error.retry_after)
        retry_at = now + dt.timedelta(seconds=wait)
        values["next_attempt_at"] = retry_at
        outcome = "retry"
        if error.retryable:
            # The LMS is unavailable: the line item's other due rows wait as well (attempts unchanged).
            s.execute(
                update(ScoreOutbox)
                .where(ScoreOutbox.line_item_id == row.line_item_id, ScoreOutbox.status == PENDING,
                       ScoreOutbox.id != row.id, ScoreOutbox.next_attempt_at < retry_at)
                .values(next_attempt_at=retry_at)
                .execution_options(synchronize_session=False)
            )
    s.execute(
        update(ScoreOutbox).where(ScoreOutbox.id == row.id, ScoreOutbox.status == PENDING).values(**values)
        .execution_options(synchronize_session=False)
    )
    log.info("score_not_delivered", outbox_id=row.id, line_item_id=row.line_item_id, attempts=attempt,
             status=error.status, kind=error.kind, outcome=outcome)
    if outcome == "retry" and not error.retryable:
        return "retry-soon"  # e.g. Moodle 409: only this row waits, the others go on
    return outcome


# -------------------------------------------------------------------------------------------- sweep
def due_line_items(session: Session, limit: int = 500) -> list[int]:
    """Line items with due rows whose lease is free (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""
    now = utcnow()
    due = select(ScoreOutbox.line_item_id).where(
        ScoreOutbox.status == PENDING, ScoreOutbox.next_attempt_at <= now
    ).distinct()
    query = select(LineItem.id).where(
        LineItem.id.in_(due), or_(LineItem.locked_until.is_(None), LineItem.locked_until < now)
    ).order_by(LineItem.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def deliver_due(db: Any, settings: Any, *, worker_id: str | None = None, http: LtiHttp | None = None) -> int:
    """Deliver everything due now (the sweep's work, done inline). Returns the number delivered."""
    try:
        with db.session() as s:
            ids = due_line_items(s)
    except DBAPIError:  # database restarting: the next sweep finds the same rows
        log.warning("grade_sweep_db_error", exc_info=True)
        return 0
    delivered = 0
    for line_item_id in ids:
        try:
            delivered += deliver_line_item(db, settings, line_item_id, worker_id=worker_id, http=http).delivered
        except DBAPIError:
            log.warning("grade_delivery_db_error", line_item_id=line_item_id, exc_info=True)
    return delivered


# ------------------------------------------------------------------------------- instructor actions
def list_scores(session: Session, context_id: int, statuses: Iterable[str] = (FAILED, REJECTED, PENDING),
                limit: int = 200) -> list[tuple[ScoreOutbox, User, LineItem]]:
    rows = session.execute(
        select(ScoreOutbox, User, LineItem)
        .join(User, User.id == ScoreOutbox.user_id)
        .join(LineItem, LineItem.id == ScoreOutbox.line_item_id)
        .where(ScoreOutbox.context_id == context_id, ScoreOutbox.status.in_(tuple(statuses)))
        .order_by(ScoreOutbox.id.desc()).limit(limit)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def retry_scores(session: Session, context_id: int, outbox_ids: Iterable[int] | None = None) -> list[int]:
    """Put failed (and, when named, rejected) rows of THIS course back in the queue; returns their ids."""
    query = select(ScoreOutbox).where(ScoreOutbox.context_id == context_id)
    if outbox_ids is None:
        query = query.where(ScoreOutbox.status == FAILED)
    else:
        query = query.where(ScoreOutbox.id.in_(list(outbox_ids)), ScoreOutbox.status.in_((FAILED, REJECTED)))
    rows = list(session.scalars(query))
    now = utcnow()
    line_items = set()
    for row in rows:
        newer = session.scalars(
            select(ScoreOutbox.id).where(ScoreOutbox.line_item_id == row.line_item_id,
                                         ScoreOutbox.user_id == row.user_id, ScoreOutbox.id > row.id,
                                         ScoreOutbox.status != REJECTED).limit(1)
        ).first()
        if newer is not None:
            row.status = SUPERSEDED
            continue
        row.status = PENDING
        row.attempts = 0
        row.next_attempt_at = now
        line_items.add(row.line_item_id)
    session.flush()
    for line_item_id in sorted(line_items):
        _after_commit(session, "grades.deliver", line_item_id=line_item_id)
    return [r.id for r in rows if r.status == PENDING]


def outbox_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(ScoreOutbox.status, func.count()).group_by(ScoreOutbox.status)).all()
    counts = dict.fromkeys((PENDING, DELIVERED, SUPERSEDED, REJECTED, FAILED), 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


def oldest_pending_age_seconds(session: Session) -> float:
    oldest = session.scalars(select(func.min(ScoreOutbox.created_at)).where(ScoreOutbox.status == PENDING)).first()
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return max(0.0, (utcnow() - oldest).total_seconds())


# ------------------------------------------------------------------------------------ results read-back
def read_results(db: Any, settings: Any, line_item_id: int, *, http: LtiHttp | None = None) -> int:
    """Pull ``GET {lineitem}/results`` and record where the LMS grade differs from the last score we delivered
    (an instructor overrode it in the gradebook). Returns the number of overridden results."""
    own = http is None
    client = http or LtiHttp.from_settings(settings)
    try:
        with db.session() as s:
            item = s.get(LineItem, line_item_id)
            if item is None or not item.url:
                return 0
            context = s.get(Context, item.context_id)
            if SCOPE_RESULT_READONLY not in granted_scopes(context):
                return 0
            registration = _registration_for_context(s, item.context_id)
            url: str | None = service_url(item.url, "results")
            results: list[dict[str, Any]] = []
            while url:
                response = _call(s, settings, client, registration, [SCOPE_RESULT_READONLY], "GET", url,
                                 accept=RESULT_CONTAINER_TYPE)
                results.extend(_json_list(response))
                url = next_link(response.headers.get("Link"))
            return _store_results(s, item, registration, results)
    finally:
        if own:
            client.close()


def _store_results(s: Session, item: LineItem, registration: Registration, results: list[dict[str, Any]]) -> int:
    subs = {str(r.get("userId")): r for r in results if r.get("userId") is not None}
    if not subs:
        return 0
    users = {u.sub: u for u in s.scalars(
        select(User).where(User.registration_id == registration.id, User.sub.in_(list(subs))))}
    overridden = 0
    now = utcnow()
    for sub, result in subs.items():
        user = users.get(sub)
        if user is None:
            continue
        ours = s.scalars(
            select(ScoreOutbox).where(ScoreOutbox.line_item_id == item.id, ScoreOutbox.user_id == user.id,
                                      ScoreOutbox.status == DELIVERED)
            .order_by(ScoreOutbox.id.desc()).limit(1)
        ).first()
        score = _float(result.get("resultScore"))
        maximum = _float(result.get("resultMaximum")) or (ours.score_maximum if ours else None)
        differs = False
        if ours is not None and score is not None:
            theirs = score / maximum if maximum else score
            mine = ours.score_given / ours.score_maximum if ours.score_maximum else ours.score_given
            differs = abs(theirs - mine) > 1e-6
        row = s.scalars(select(LmsResult).where(LmsResult.line_item_id == item.id,
                                                LmsResult.user_id == user.id)).first()
        if row is None:
            row = LmsResult(context_id=item.context_id, line_item_id=item.id, user_id=user.id)
            s.add(row)
        row.result_score = score
        row.result_maximum = maximum
        row.comment = result.get("comment") if isinstance(result.get("comment"), str) else None
        row.our_score = ours.score_given if ours else None
        row.our_maximum = ours.score_maximum if ours else None
        row.overridden = differs
        row.fetched_at = now
        overridden += int(differs)
    s.flush()
    return overridden


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def overridden_results(session: Session, context_id: int) -> list[tuple[LmsResult, User, LineItem]]:
    rows = session.execute(
        select(LmsResult, User, LineItem)
        .join(User, User.id == LmsResult.user_id)
        .join(LineItem, LineItem.id == LmsResult.line_item_id)
        .where(LmsResult.context_id == context_id, LmsResult.overridden.is_(True))
        .order_by(LineItem.id, User.id)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def line_items_for_context(session: Session, context_id: int) -> list[LineItem]:
    return list(session.scalars(select(LineItem).where(LineItem.context_id == context_id).order_by(LineItem.id)))


# --------------------------------------------------------------------------------------- Link header
def parse_link_header(value: str | None) -> dict[str, str]:
    """``Link`` header -> {rel: url}; rel quoted or not, several links on one line (Canvas), case kept in URLs."""
    links: dict[str, str] = {}
    if not value:
        return links
    for raw in _split_links(value):
        part = raw.strip()
        if not part.startswith("<") or ">" not in part:
            continue
        url, _, params = part[1:].partition(">")
        for param in params.split(";"):
            name, _, val = param.strip().partition("=")
            if name.strip().lower() == "rel":
                for rel in val.strip().strip('"').split():
                    links.setdefault(rel.lower(), url.strip())
    return links


def _split_links(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = False
    for ch in value:
        if ch == "<":
            depth = True
        elif ch == ">":
            depth = False
        if ch == "," and not depth:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def next_link(value: str | None) -> str | None:
    return parse_link_header(value).get("next")


