"""The jobs of grades and roster, and the sweep. Each takes ids (JSON-able) and reads the truth from the database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from lti_tool.jobs import JobContext, enqueue, job
from lti_tool.logs import get_logger

log = get_logger(__name__)


@job("jobs.sweep", queue="grades")
def sweep(ctx: JobContext) -> dict[str, int]:
    """Re-enqueue everything due: undelivered scores, line items still to create, roster syncs on schedule."""
    from lti_tool.models import LineItem, utcnow
    from lti_tool.services import grades, roster, tokens

    with ctx.db.session() as s:
        line_items = grades.due_line_items(s)
        pending_items = list(s.scalars(
            select(LineItem.id).where(LineItem.url.is_(None), LineItem.updated_at < utcnow() - dt.timedelta(
                seconds=max(60.0, float(ctx.settings.jobs_sweep_seconds))))
        ))
        rosters = roster.due_contexts(s, ctx.settings)
        tokens.purge_expired(s)
    for line_item_id in pending_items:
        enqueue("grades.ensure_line_item", line_item_id=line_item_id)
    for line_item_id in line_items:
        enqueue("grades.deliver", line_item_id=line_item_id)
    for context_id in rosters:
        enqueue("roster.sync", context_id=context_id)
    return {"line_items": len(line_items), "rosters": len(rosters)}


@job("grades.deliver", queue="grades")
def deliver(ctx: JobContext, line_item_id: int) -> dict[str, Any]:
    from lti_tool.services import grades

    report = grades.deliver_line_item(ctx.db, ctx.settings, line_item_id, worker_id=ctx.worker_id)
    return {"delivered": report.delivered, "retried": report.retried, "failed": report.failed}


@job("grades.ensure_line_item", queue="grades")
def ensure_line_item(ctx: JobContext, line_item_id: int) -> str | None:
    """Create (or find) the line item at the LMS, then deliver the scores that waited for it.

    Runs under the line item's delivery lease, so it never races a delivery that is creating the same line item
    (two POSTs would make two gradebook columns). When a delivery holds the lease, it creates the line item itself.
    """
    from lti_tool.models import LineItem
    from lti_tool.services import grades
    from lti_tool.services.lti_http import LtiHttp, LtiHttpError
    from lti_tool.services.tokens import TokenError

    with ctx.db.session() as s:
        item = s.get(LineItem, line_item_id)
        if item is None:
            return None
        if item.url:
            return item.url
        if not grades.claim_line_item(s, line_item_id, ctx.worker_id, float(ctx.settings.grade_lease_seconds)):
            return None  # a delivery holds it and creates the line item first; the sweep covers a crash
    url: str | None = None
    try:
        with LtiHttp.from_settings(ctx.settings) as http, ctx.db.session() as s:
            item = s.get(LineItem, line_item_id)
            if item is None:
                return None
            try:
                url = grades.ensure_remote_line_item(s, ctx.settings, http, item)
            except (grades.LineItemUnavailable, LtiHttpError, TokenError) as exc:
                item.last_error = str(exc)
                log.warning("line_item_not_created", line_item_id=line_item_id, error=str(exc))
                return None
            grades.wake_line_item_rows(s, line_item_id)
    finally:
        with ctx.db.session() as s:
            grades.release_line_item(s, line_item_id, ctx.worker_id)
    enqueue("grades.deliver", line_item_id=line_item_id)
    return url


@job("grades.read_results", queue="grades")
def read_results(ctx: JobContext, context_id: int) -> int:
    from lti_tool.services import grades

    with ctx.db.session() as s:
        ids = [li.id for li in grades.line_items_for_context(s, context_id) if li.url]
    return sum(grades.read_results(ctx.db, ctx.settings, i) for i in ids)


@job("roster.sync", queue="roster")
def roster_sync(ctx: JobContext, context_id: int, resource_link_id: int | None = None) -> dict[str, Any]:
    from lti_tool.services import roster

    report = roster.sync_roster(ctx.db, ctx.settings, context_id, resource_link_id=resource_link_id,
                                worker_id=ctx.worker_id)
    return report.as_dict()
