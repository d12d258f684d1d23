"""All models, imported here so Alembic and the app see the whole schema."""

from lti_tool.models.base import Base, utcnow
from lti_tool.models.course import Context, Membership, ResourceLink, User
from lti_tool.models.lti import (
    Deployment,
    LaunchRecord,
    LoginState,
    Registration,
    ToolKey,
    UsedNonce,
)

__all__ = [
    "Base",
    "Context",
    "Deployment",
    "LaunchRecord",
    "LoginState",
    "Membership",
    "Registration",
    "ResourceLink",
    "ToolKey",
    "UsedNonce",
    "User",
    "utcnow",
]
