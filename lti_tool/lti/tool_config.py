"""What the LMS needs to know about this tool: URLs, Canvas developer-key JSON, dynamic registration payload."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from lti_tool.settings import Settings

SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
]
DESCRIPTION = ("Adaptive practice: each student gets the next question chosen from what they already master; "
               "scores go back to the gradebook.")


def tool_urls(settings: Settings) -> dict[str, str]:
    base = settings.base_url
    return {
        "login": base + "/lti/login",
        "launch": base + "/lti/launch",
        "redirect": base + "/lti/launch",
        "deep_linking": base + "/lti/launch",
        "jwks": base + "/.well-known/jwks.json",
        "dynamic_registration": base + "/lti/register",
        "canvas_config": base + "/lti/config.json",
        "domain": urlparse(base).netloc,
    }


def canvas_config(settings: Settings) -> dict[str, Any]:
    """Canvas developer key (LTI key) JSON: paste its URL into Developer Keys -> + LTI Key -> Enter URL."""
    urls = tool_urls(settings)
    title = settings.tool_title

    def placement(name: str, message_type: str, **extra: Any) -> dict[str, Any]:
        return {"placement": name, "message_type": message_type, "target_link_uri": urls["launch"],
                "text": title, **extra}

    return {
        "title": title,
        "description": DESCRIPTION,
        "oidc_initiation_url": urls["login"],
        "target_link_uri": urls["launch"],
        "public_jwk_url": urls["jwks"],
        "scopes": list(SCOPES),
        "extensions": [{
            "domain": urls["domain"],
            "tool_id": "adaptive-lti",
            "platform": "canvas.instructure.com",
            "privacy_level": "public",
            "settings": {
                "text": title,
                "placements": [
                    placement("course_navigation", "LtiResourceLinkRequest", default="enabled",
                              visibility="admins"),
                    placement("assignment_selection", "LtiDeepLinkingRequest"),
                    placement("link_selection", "LtiDeepLinkingRequest"),
                ],
            },
        }],
        "custom_fields": {"canvas_course_id": "$Canvas.course.id", "lms": "canvas"},
    }


def registration_payload(settings: Settings) -> dict[str, Any]:
    """The tool's OpenID client registration for LTI Dynamic Registration 1.0."""
    urls = tool_urls(settings)
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls["login"],
        "redirect_uris": [urls["launch"]],
        "client_name": settings.tool_title,
        "jwks_uri": urls["jwks"],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(SCOPES),
        "https://purl.imsglobal.org/spec/lti-tool-configuration": {
            "domain": urls["domain"],
            "description": DESCRIPTION,
            "target_link_uri": urls["launch"],
            "custom_parameters": {},
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email", "locale"],
            "messages": [
                {"type": "LtiResourceLinkRequest", "target_link_uri": urls["launch"], "label": settings.tool_title},
                {"type": "LtiDeepLinkingRequest", "target_link_uri": urls["launch"], "label": settings.tool_title,
                 "placements": ["ContentArea", "assignment_selection", "link_selection"],
                 "supported_types": ["ltiResourceLink"]},
            ],
        },
    }
