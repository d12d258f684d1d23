"""What grades and roster do when a launch is validated (``lti_tool.signals.launch_validated``).

Nothing here waits for the network: the roster sync is enqueued after the launch commits; the line item row is
written in the launch's transaction (and created at the LMS by a job when the platform did not make one).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from lti_tool.logs import get_logger

log = get_logger(__name__)


def on_launch_validated(sender: Any, *, session: Any, launch: Any, **_: Any) -> None:
    from lti_tool import jobs
    from lti_tool.services import grades, roster

    context = getattr(launch, "context", None)
    if context is None:
        return
    lti_session = getattr(launch, "lti_session", None)
    link = getattr(launch, "resource_link", None)
    if lti_session is not None and getattr(lti_session, "is_instructor", False):
        if roster.has_nrps(context):
            jobs.enqueue_after_commit(session, "roster.sync", context_id=context.id,
                                      resource_link_id=link.id if link is not None else None)
        else:
            roster.mark_unavailable(session, context.id)
    from lti_tool.services import practice

    review_id = practice.link_review_launch(session, launch)  # a review's own assignment: scores go to its column
    if link is not None and review_id is None and grades.can_score(context):
        try:
            with session.begin_nested():
                grades.line_item_for_resource_link(session, link, context)
        except IntegrityError:  # a concurrent launch made it a moment ago
            log.info("line_item_exists", context_id=context.id, resource_link_id=link.id)
