"""Claim names (LTI 1.3 Core, Deep Linking 2.0, AGS, NRPS) and role vocabulary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
TARGET_LINK_URI = LTI + "target_link_uri"
RESOURCE_LINK = LTI + "resource_link"
ROLES = LTI + "roles"
CONTEXT = LTI + "context"
CUSTOM = LTI + "custom"
LAUNCH_PRESENTATION = LTI + "launch_presentation"
TOOL_PLATFORM = LTI + "tool_platform"
LIS = LTI + "lis"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DL_CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DL_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
DL_MSG = "https://purl.imsglobal.org/spec/lti-dl/claim/msg"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
MESSAGE_TYPES = (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST)
LTI_VERSION = "1.3.0"

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
MEMBERSHIP_SUB = "http://purl.imsglobal.org/vocab/lis/v2/membership/"
TEST_USER = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"

INSTRUCTOR_ROLES = frozenset({"Instructor", "Administrator", "ContentDeveloper", "TeachingAssistant"})
LEARNER_ROLES = frozenset({"Learner"})
# LTI 1.1 short ("simple") names are context roles.
SHORT_NAMES = frozenset({"Learner", "Instructor", "ContentDeveloper", "Member", "Manager", "Mentor",
                         "Administrator", "TeachingAssistant"})


@dataclass(frozen=True)
class RoleInfo:
    context_roles: tuple[str, ...]
    is_instructor: bool
    is_learner: bool
    is_test_user: bool


def _context_role(role: str) -> str | None:
    """The principal context role name of ``role``, or None for institution/system/unknown roles.

    ``membership#Instructor`` -> Instructor; ``membership/Instructor#TeachingAssistant`` -> TeachingAssistant
    (a sub-role of Instructor, which grants instructor rights); short name ``Instructor`` -> Instructor.
    """
    if role.startswith(MEMBERSHIP):
        return role[len(MEMBERSHIP):]
    if role.startswith(MEMBERSHIP_SUB):
        principal, _, sub = role[len(MEMBERSHIP_SUB):].partition("#")
        if principal == "Instructor":
            return "TeachingAssistant" if sub == "TeachingAssistant" else "Instructor"
        return principal
    if role in SHORT_NAMES:
        return role
    return None


def classify_roles(roles: Iterable[str]) -> RoleInfo:
    """Course rights from context roles only; institution and system roles never grant anything."""
    roles = [r for r in roles if isinstance(r, str)]
    context = [r for r in roles if _context_role(r) is not None]
    names = {_context_role(r) for r in context}
    return RoleInfo(
        context_roles=tuple(context),
        is_instructor=bool(names & INSTRUCTOR_ROLES),
        is_learner=bool(names & LEARNER_ROLES),
        is_test_user=TEST_USER in roles,
    )
