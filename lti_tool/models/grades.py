"""Grade passback and roster sync: line items, the score outbox, LMS results, roster status, access tokens.

The score outbox is the source of truth for grades: a row is written in the same transaction as the attempt
that changed the score, and a worker delivers it to the LMS (AGS). Delivery is serialised per line item through
a lease on :class:`LineItem` (``locked_until`` + ``locked_by``, claimed with an atomic conditional UPDATE, and
``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never post to the same line item at once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.models.base import Base, TimestampMixin, TZDateTime, utcnow

# ScoreOutbox.status
PENDING = "pending"  # waiting for (re)delivery at next_attempt_at
DELIVERED = "delivered"  # the LMS accepted it
SUPERSEDED = "superseded"  # a newer score for the same (line item, user) replaced it before delivery
REJECTED = "rejected"  # final: the LMS refused it for good (a 4xx that never succeeds); reason in last_error
FAILED = "failed"  # gave up after grade_max_attempts; shown to the instructor with a retry button
OUTBOX_STATUSES = (PENDING, DELIVERED, SUPERSEDED, REJECTED, FAILED)


class LineItem(TimestampMixin, Base):
    """An AGS line item (a gradebook column) for an activity of a course.

    ``url`` is the line item URL at the LMS; it is ``None`` while the line item still has to be created (or
    found) through the line items service. The lease columns serialise score delivery per line item.
    """

    __tablename__ = "line_items"
    __table_args__ = (UniqueConstraint("context_id", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"), index=True)
    resource_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("resource_links.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str | None] = mapped_column(String(1024))
    label: Mapped[str] = mapped_column(String(512), default="")
    score_maximum: Mapped[float] = mapped_column(Float, default=100.0)
    resource_id: Mapped[str | None] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(255))
    canvas_launch_url: Mapped[str | None] = mapped_column(String(1024))
    source: Mapped[str] = mapped_column(String(16), default="launch")  # launch | created | found | pending
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    locked_by: Mapped[str | None] = mapped_column(String(64))


class ScoreOutbox(TimestampMixin, Base):
    """A score to deliver to the LMS; ``timestamp`` is its creation time, so re-delivery is harmless."""

    __tablename__ = "score_outbox"
    __table_args__ = (
        Index("ix_score_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_score_outbox_line_item_id_user_id", "line_item_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"), index=True)
    line_item_id: Mapped[int] = mapped_column(ForeignKey("line_items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    resource_link_id: Mapped[int | None] = mapped_column(ForeignKey("resource_links.id", ondelete="SET NULL"))
    score_given: Mapped[float] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    activity_progress: Mapped[str] = mapped_column(String(32), default="Completed")
    grading_progress: Mapped[str] = mapped_column(String(32), default="FullyGraded")
    timestamp: Mapped[dt.datetime] = mapped_column(TZDateTime())
    submitted_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column()
    delivered_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)

    line_item: Mapped[LineItem] = relationship()


class LmsResult(Base):
    """A result read back from the LMS (``GET {lineitem}/results``); ``overridden``: differs from ours."""

    __tablename__ = "lms_results"
    __table_args__ = (UniqueConstraint("line_item_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"), index=True)
    line_item_id: Mapped[int] = mapped_column(ForeignKey("line_items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    result_score: Mapped[float | None] = mapped_column(Float)
    result_maximum: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    our_score: Mapped[float | None] = mapped_column(Float)
    our_maximum: Mapped[float | None] = mapped_column(Float)
    overridden: Mapped[bool] = mapped_column(default=False)
    fetched_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow)


class RosterSync(Base):
    """The state of a course's roster sync (NRPS), one row per context."""

    __tablename__ = "roster_syncs"

    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="never")  # never|running|ok|error|unavailable
    message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    last_success_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    members_total: Mapped[int] = mapped_column(default=0)
    members_added: Mapped[int] = mapped_column(default=0)
    members_inactivated: Mapped[int] = mapped_column(default=0)
    differences_url: Mapped[str | None] = mapped_column(String(2048))
    resource_link_id: Mapped[int | None] = mapped_column(ForeignKey("resource_links.id", ondelete="SET NULL"))
    locked_until: Mapped[dt.datetime | None] = mapped_column(TZDateTime())


class AccessTokenCache(Base):
    """A client-credentials access token, encrypted at rest, keyed by a hash of
    (issuer, client_id, token URL, scopes): never shared between registrations."""

    __tablename__ = "access_tokens"

    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    token_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
