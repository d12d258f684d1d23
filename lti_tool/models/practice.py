"""Practice: each learner's enrolment in an adaptive assignment, the items served to them, their attempts, their
engine state, and the personalized review assignments instructors generate.

- :class:`PracticeEnrolment`: one learner in one assignment (a resource link, or a review assignment inside it):
  their own goal skills, progress and score. ``scope`` is ``"link"`` for the resource link's adaptive assignment and
  ``"review:<id>"`` for a personalized review assignment.
- :class:`ServedItem`: the server-side record of what was shown (item + the exact variant); an answer is always
  graded against it, never against anything the client sends. Answering it twice never creates two attempts.
- :class:`Attempt`: one graded answer. Test-user attempts are stored with ``is_test_user`` and excluded from
  analytics and training.
- :class:`LearnerState`: the engine's serialized per-student state per (user, bank, engine model fingerprint), with
  the practice record the policy needs (last practice per skill, recent items).
- :class:`ReviewAssignment`: a personalized review assignment for a class: its own AGS line item.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base, TimestampMixin, TZDateTime, utcnow

LINK_SCOPE = "link"

# PracticeEnrolment.kind
ADAPTIVE = "adaptive"
REVIEW = "review"


def review_scope(review_id: int) -> str:
    return f"review:{review_id}"


class ReviewAssignment(TimestampMixin, Base):
    """A personalized review assignment created by an instructor from a resource link's activity."""

    __tablename__ = "review_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"), index=True)
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("resource_links.id", ondelete="CASCADE"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("item_banks.id", ondelete="CASCADE"))
    # line_items.id (grades); no foreign key so this migration branch depends only on the items branch
    line_item_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))
    skills_per_student: Mapped[int] = mapped_column(Integer, default=3)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    n_students: Mapped[int] = mapped_column(Integer, default=0)


class PracticeEnrolment(TimestampMixin, Base):
    """One learner's own sequence in one assignment."""

    __tablename__ = "practice_enrolments"
    __table_args__ = (UniqueConstraint("resource_link_id", "user_id", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("resource_links.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(32), default=LINK_SCOPE)
    kind: Mapped[str] = mapped_column(String(16), default=ADAPTIVE)
    review_assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("review_assignments.id", ondelete="CASCADE"), index=True
    )
    bank_id: Mapped[int] = mapped_column(ForeignKey("item_banks.id", ondelete="CASCADE"), index=True)
    goal_skills: Mapped[list[Any]] = mapped_column(default=list)  # skill keys
    items_answered: Mapped[int] = mapped_column(Integer, default=0)
    items_correct: Mapped[int] = mapped_column(Integer, default=0)
    skills_mastered: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1, as last posted
    current_served_id: Mapped[int | None] = mapped_column(Integer)  # resume: the item on screen
    completed_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)


class ServedItem(Base):
    """An item shown to a learner, with the exact variant; the unit of idempotency for answers."""

    __tablename__ = "practice_served"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("practice_enrolments.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("item_banks.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    variant: Mapped[dict[str, Any]] = mapped_column()
    skill: Mapped[str | None] = mapped_column(String(128))  # the skill the policy targeted
    reason: Mapped[str | None] = mapped_column(String(32))
    explanation: Mapped[dict[str, Any] | None] = mapped_column()
    p_correct: Mapped[float | None] = mapped_column(Float)
    hints_shown: Mapped[int] = mapped_column(Integer, default=0)
    is_test_user: Mapped[bool] = mapped_column(Boolean, default=False)
    served_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())


class Attempt(Base):
    """One graded answer to a served item (at most one per served item)."""

    __tablename__ = "practice_attempts"
    __table_args__ = (UniqueConstraint("served_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    served_id: Mapped[int] = mapped_column(ForeignKey("practice_served.id", ondelete="CASCADE"))
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("practice_enrolments.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("item_banks.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    skill_keys: Mapped[list[Any]] = mapped_column(default=list)
    answer: Mapped[Any] = mapped_column(JSON)
    normalized: Mapped[str | None] = mapped_column(Text)
    correct: Mapped[bool] = mapped_column(Boolean)
    p_correct: Mapped[float | None] = mapped_column(Float)  # the engine's prediction before the answer
    hints_used: Mapped[int] = mapped_column(Integer, default=0)
    is_test_user: Mapped[bool] = mapped_column(Boolean, default=False)  # excluded from analytics and training
    engine_model: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the answer's response, replayed on a resubmit
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, index=True)


class LearnerState(Base):
    """The engine's state of one learner on one bank, for one engine model (a retrained model rebuilds it)."""

    __tablename__ = "learner_states"
    __table_args__ = (UniqueConstraint("user_id", "bank_id", "model_fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("item_banks.id", ondelete="CASCADE"), index=True)
    model_fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(Text)  # adaptive.State.to_json()
    n_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # {"last_practiced": {skill: unix seconds}, "recent_items": [item keys], "mastery": {skill: [p, u]}}
    record: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)
