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
from lti_tool.models.practice import Attempt, LearnerState, PracticeEnrolment, ReviewAssignment, ServedItem

__all__ = [
    "AccessTokenCache",
    "Attempt",
    "Base",
    "Context",
    "Deployment",
    "Item",
    "ItemBank",
    "ItemSkill",
    "LaunchRecord",
    "LearnerState",
    "LineItem",
    "LmsResult",
    "LoginState",
    "Membership",
    "PracticeEnrolment",
    "Registration",
    "ResourceLink",
    "ReviewAssignment",
    "RosterSync",
    "ScoreOutbox",
    "ServedItem",
    "Skill",
    "SkillPrerequisite",
    "ToolKey",
    "UsedNonce",
    "User",
    "utcnow",
]
