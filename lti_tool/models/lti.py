"""Platform registrations, deployments, the tool's keys, and launch bookkeeping."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.models.base import Base, TimestampMixin, TZDateTime

# Registration.status
PENDING = "pending"
ACTIVE = "active"
DISABLED = "disabled"

# Registration.unknown_deployment_policy
AUTO_ADD = "auto_add"
REJECT = "reject"


class Registration(TimestampMixin, Base):
    """One platform registration: (issuer, client_id). Hosted Canvas shares one issuer, so never issuer alone."""

    __tablename__ = "registrations"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    client_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    auth_login_url: Mapped[str] = mapped_column(String(1024))
    auth_token_url: Mapped[str] = mapped_column(String(1024))
    auth_audience: Mapped[str | None] = mapped_column(String(1024))
    jwks_url: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    unknown_deployment_policy: Mapped[str] = mapped_column(String(16), default=REJECT)
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual | dynamic
    product_family: Mapped[str | None] = mapped_column(String(64))  # moodle, canvas, ...
    # Platform JWKS cache (shared by every worker through the database).
    jwks_cache: Mapped[dict[str, Any] | None] = mapped_column()
    jwks_fetched_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    # What dynamic registration received (platform configuration, tool registration response).
    registration_data: Mapped[dict[str, Any] | None] = mapped_column()

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="registration", cascade="all, delete-orphan", order_by="Deployment.id"
    )

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE


class Deployment(TimestampMixin, Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("registration_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    auto_added: Mapped[bool] = mapped_column(default=False)

    registration: Mapped[Registration] = relationship(back_populates="deployments")


class ToolKey(TimestampMixin, Base):
    """An RSA key of the tool. Private half encrypted with a key derived from SECRET_KEY.

    Lifecycle: active (signs) -> retired (still published in the JWKS until ``expires_at``) -> deleted.
    """

    __tablename__ = "tool_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column()
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | retired
    retired_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())


class LoginState(Base):
    """OIDC login initiation: state and nonce we issued, kept server side for every worker."""

    __tablename__ = "login_states"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128))
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    target_link_uri: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), index=True)


class UsedNonce(Base):
    """A nonce consumed by a launch; the primary key makes a replay fail atomically."""

    __tablename__ = "used_nonces"

    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), primary_key=True
    )
    nonce: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), index=True)


class LaunchRecord(TimestampMixin, Base):
    """A validated launch's claims, for deep-linking responses and later service calls."""

    __tablename__ = "launches"
    __table_args__ = (Index("ix_launches_expires_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    context_id: Mapped[int | None] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"))
    message_type: Mapped[str] = mapped_column(String(64))
    claims: Mapped[dict[str, Any]] = mapped_column()
    expires_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
