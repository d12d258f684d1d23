"""All models, imported here so Alembic and the app see the whole schema."""

from lti_tool.models.base import Base, utcnow
from lti_tool.models.course import Context, Membership, ResourceLink, User
from lti_tool.models.grades import AccessTokenCache, LineItem, LmsResult, RosterSync, ScoreOutbox
from lti_tool.models.items import Item, ItemBank, ItemSkill, Skill, SkillPrerequisite
from lti_tool.models.lti import (
    Deployment,
    LaunchRecord,
    LoginState,
    Registration,
    ToolKey,
    UsedNonce,
)

__all__ = [
    "AccessTokenCache",
    "Base",
    "Context",
    "Deployment",
    "Item",
    "ItemBank",
    "ItemSkill",
    "LaunchRecord",
    "LineItem",
    "LmsResult",
    "LoginState",
    "Membership",
    "Registration",
    "ResourceLink",
    "RosterSync",
    "ScoreOutbox",
    "Skill",
    "SkillPrerequisite",
    "ToolKey",
    "UsedNonce",
    "User",
    "utcnow",
]
