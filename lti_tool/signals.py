"""Signals between subsystems, so the launch does not import the roster, grades or practice code.

``launch_validated`` is sent after a launch has been fully validated and its user, context, membership and
resource link rows are written (same database session, not yet committed). Receivers get keyword arguments:
``session`` (SQLAlchemy Session), ``launch`` (lti_tool.lti.launch.ValidatedLaunch) and must not raise for
anything but bugs: a receiver that needs network work enqueues a job instead of doing it inline.

``roster_members_added`` is sent by a roster sync after it wrote its membership rows (same session, not yet
committed) when learner members were added or became active again. Keyword arguments: ``session``,
``context_id`` (contexts.id) and ``user_ids`` (users.id of those active learner members). Practice subscribes to
give them their enrolments.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

launch_validated = _signals.signal("launch-validated")
roster_members_added = _signals.signal("roster-members-added")
