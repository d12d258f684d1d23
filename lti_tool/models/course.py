"""Users, courses (LTI contexts), memberships and resource links.

Tenancy: every course row hangs off registration -> deployment -> context.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.models.base import Base, TimestampMixin, TZDateTime, utcnow


class User(TimestampMixin, Base):
    """A platform user; ``sub`` is only unique within its registration."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("registration_id", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    given_name: Mapped[str | None] = mapped_column(String(255))
    family_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    locale: Mapped[str | None] = mapped_column(String(32))
    is_test_user: Mapped[bool] = mapped_column(default=False)

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        full = " ".join(p for p in (self.given_name, self.family_name) if p)
        return full or self.email or f"User {self.sub[:8]}"


class Context(TimestampMixin, Base):
    """A course (LTI context) inside one deployment."""

    __tablename__ = "contexts"
    __table_args__ = (UniqueConstraint("deployment_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    context_id: Mapped[str] = mapped_column(String(255))
    label: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(512))
    # LTI Advantage service endpoints and granted scopes, as the latest launch claimed them.
    services: Mapped[dict[str, Any] | None] = mapped_column()

    memberships: Mapped[list[Membership]] = relationship(back_populates="context", cascade="all, delete-orphan")

    @property
    def display_name(self) -> str:
        return self.title or self.label or self.context_id


class Membership(Base):
    """A user's role in a course. Rights come only from context roles, never institution roles."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("context_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    is_instructor: Mapped[bool] = mapped_column(default=False)
    is_learner: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | inactive
    source: Mapped[str] = mapped_column(String(16), default="launch")  # launch | nrps
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)

    context: Mapped[Context] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()


class ResourceLink(TimestampMixin, Base):
    """A placement of the tool in a course: an adaptive activity/assignment."""

    __tablename__ = "resource_links"
    __table_args__ = (UniqueConstraint("context_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"), index=True)
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(512))
    custom: Mapped[dict[str, Any] | None] = mapped_column()
    lineitem_url: Mapped[str | None] = mapped_column(String(1024))
    # Activity settings chosen in deep linking (item bank, goal, scoring mode...).
    settings: Mapped[dict[str, Any] | None] = mapped_column()
