"""``/metrics`` in the Prometheus text format: grade outbox by status, failed deliveries, roster syncs.

No personal data: counts only. Protected by ``ADAPTIVE_LTI_METRICS_TOKEN`` (``Authorization: Bearer <token>``,
compared in constant time); without a token it is open in development and test, and answers 404 in production.
Expose it to your monitoring network only as well (see docs/grades.md).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from flask import Blueprint, Response, abort, request
from sqlalchemy import func, select

from lti_tool.app import get_settings
from lti_tool.db import get_session
from lti_tool.models import LineItem, RosterSync
from lti_tool.services import grades

bp = Blueprint("metrics", __name__)


def _gauge(lines: list[str], name: str, help_text: str, values: Mapping[str, float] | float,
           label: str = "status") -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} gauge")
    if isinstance(values, Mapping):
        for key, value in sorted(values.items()):
            lines.append(f'{name}{{{label}="{key}"}} {value:g}')
    else:
        lines.append(f"{name} {values:g}")


def _check_access() -> None:
    settings = get_settings()
    if settings.metrics_token is None:
        if settings.is_production:
            abort(404)  # not enabled: set ADAPTIVE_LTI_METRICS_TOKEN
        return
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    token = settings.metrics_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token):
        abort(Response("metrics: bearer token required\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'},
                       content_type="text/plain; charset=utf-8"))


@bp.get("/metrics")
def metrics() -> Response:
    _check_access()
    session = get_session()
    counts = grades.outbox_counts(session)
    lines: list[str] = []
    _gauge(lines, "adaptive_lti_score_outbox", "Scores in the grade outbox by delivery status.", counts)
    _gauge(lines, "adaptive_lti_score_outbox_failed",
           "Scores that could not be delivered after every retry (instructor action needed).", counts["failed"])
    _gauge(lines, "adaptive_lti_score_outbox_rejected",
           "Scores the LMS refused for good (e.g. user not gradable).", counts["rejected"])
    _gauge(lines, "adaptive_lti_score_outbox_oldest_pending_seconds",
           "Age of the oldest score still waiting for delivery.", grades.oldest_pending_age_seconds(session))
    _gauge(lines, "adaptive_lti_line_items_unresolved",
           "Line items still to be created or found at the LMS.",
           session.scalar(select(func.count()).select_from(LineItem).where(LineItem.url.is_(None))) or 0)
    roster_counts = {s: int(n) for s, n in session.execute(
        select(RosterSync.status, func.count()).group_by(RosterSync.status)).all()}
    _gauge(lines, "adaptive_lti_roster_syncs", "Courses by roster sync status.", roster_counts)
    return Response("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
