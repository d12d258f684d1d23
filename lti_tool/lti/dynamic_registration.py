"""LTI Dynamic Registration 1.0 (Moodle 3.10+, Canvas): the platform opens /lti/register in a window with
``openid_configuration`` and ``registration_token``; we fetch the platform's configuration, register ourselves at
its ``registration_endpoint`` and keep the result PENDING until an admin approves it.

Moodle answers with the deployment id; Canvas leaves it to the first launch (policy ``auto_add``).

The endpoint is public (the LMS admin's browser opens it), so it trusts nothing it is handed: redirects are not
followed (the host check must hold for the URL actually read), an (issuer, client id) already registered keeps the
endpoints the admin approved (registering it again with other ones is refused: the admin removes it first), and at
most ``MAX_PENDING`` registrations wait for approval at once (an unapproved one expires after ``PENDING_TTL``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlparse

import requests
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from lti_tool.logs import get_logger
from lti_tool.lti.errors import N_, LtiError
from lti_tool.lti.tool_config import registration_payload
from lti_tool.models import Registration, utcnow
from lti_tool.models.lti import AUTO_ADD, PENDING
from lti_tool.services import registrations
from lti_tool.services.platform_keys import USER_AGENT
from lti_tool.settings import Settings

log = get_logger(__name__)

PLATFORM_CONFIG = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIG = "https://purl.imsglobal.org/spec/lti-tool-configuration"
_SECRET_KEYS = ("registration_access_token", "client_secret", "access_token")
MAX_PENDING = 50  # registrations waiting for an admin's approval; more are refused until some are decided
PENDING_TTL = dt.timedelta(days=7)  # a dynamic registration not approved within this is dropped (register again)


class DynamicRegistrationError(LtiError):
    title = N_("Dynamic registration failed")


def _https_or_dev(url: str, settings: Settings) -> bool:
    scheme = urlparse(url).scheme
    return scheme == "https" or (scheme == "http" and not settings.is_production)


def fetch_platform_configuration(openid_configuration: str, registration_token: str | None,
                                 settings: Settings) -> dict[str, Any]:
    if not openid_configuration or not _https_or_dev(openid_configuration, settings):
        raise DynamicRegistrationError("The openid_configuration parameter is missing or not an https URL.")
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if registration_token:
        headers["Authorization"] = f"Bearer {registration_token}"
    try:
        resp = requests.get(openid_configuration, headers=headers, timeout=settings.http_timeout_seconds,
                            allow_redirects=False)
    except requests.RequestException as exc:
        raise DynamicRegistrationError(f"Cannot reach the platform's configuration at {openid_configuration} "
                                       f"({type(exc).__name__}).", status=502) from exc
    if resp.is_redirect:
        raise DynamicRegistrationError(
            f"The platform's configuration URL redirects (HTTP {resp.status_code}); registration reads only the URL "
            "the platform gives, not a redirect.", status=502)
    if resp.status_code != 200:
        raise DynamicRegistrationError(f"The platform's configuration URL answered HTTP {resp.status_code}.",
                                       status=502)
    try:
        config = resp.json()
    except ValueError as exc:
        raise DynamicRegistrationError("The platform's configuration is not JSON.", status=502) from exc
    if not isinstance(config, dict):
        raise DynamicRegistrationError("The platform's configuration is not a JSON object.", status=502)
    missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint")
               if not isinstance(config.get(k), str) or not config.get(k)]
    if missing:
        raise DynamicRegistrationError(f"The platform's configuration lacks {', '.join(missing)}.")
    issuer_host = urlparse(config["issuer"]).hostname
    config_host = urlparse(openid_configuration).hostname
    if not issuer_host or issuer_host != config_host:
        raise DynamicRegistrationError(
            f"The platform's issuer {config['issuer']!r} is not on the host that served its configuration "
            f"({config_host}); refusing to register it.")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint"):
        if not _https_or_dev(config[key], settings):
            raise DynamicRegistrationError(f"The platform's {key} is not an https URL.")
    return config


def register(session: Session, settings: Settings, openid_configuration: str,
             registration_token: str | None) -> Registration:
    """Run the whole exchange and store a PENDING registration (not committed)."""
    # the endpoint is public: registrations nobody approved do not hold the cap forever
    for stale in session.scalars(select(Registration).where(
            Registration.status == PENDING, Registration.source == "dynamic",
            Registration.created_at < utcnow() - PENDING_TTL)).all():
        try:
            with session.begin_nested():  # a concurrent registration may have removed it first
                session.delete(stale)
            log.info("dynamic_registration_expired", registration_id=stale.id)
        except (StaleDataError, IntegrityError):
            pass
    pending = session.scalar(select(func.count()).select_from(Registration).where(Registration.status == PENDING))
    if (pending or 0) >= MAX_PENDING:
        raise DynamicRegistrationError(
            f"{pending} registrations are already waiting for an administrator's approval; approve or remove them "
            "(admin page, or adaptive-lti platform list / approve / remove) before registering more.", status=429)
    config = fetch_platform_configuration(openid_configuration, registration_token, settings)
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", "Content-Type": "application/json"}
    if registration_token:
        headers["Authorization"] = f"Bearer {registration_token}"
    try:
        resp = requests.post(config["registration_endpoint"], json=registration_payload(settings), headers=headers,
                             timeout=settings.http_timeout_seconds, allow_redirects=False)
    except requests.RequestException as exc:
        raise DynamicRegistrationError(f"Cannot reach the platform's registration endpoint "
                                       f"({type(exc).__name__}).", status=502) from exc
    if resp.status_code not in (200, 201):
        raise DynamicRegistrationError(f"The platform refused the registration (HTTP {resp.status_code}).",
                                       status=502)
    try:
        answer = resp.json()
    except ValueError as exc:
        raise DynamicRegistrationError("The platform's registration answer is not JSON.", status=502) from exc
    client_id = answer.get("client_id") if isinstance(answer, dict) else None
    if not client_id:
        raise DynamicRegistrationError("The platform's registration answer has no client_id.", status=502)
    tool_conf = answer.get(TOOL_CONFIG) or {}
    deployment_id = tool_conf.get("deployment_id") if isinstance(tool_conf, dict) else None
    platform_conf = config.get(PLATFORM_CONFIG) or {}
    product = platform_conf.get("product_family_code") if isinstance(platform_conf, dict) else None
    stored = {"platform_configuration": config,
              "registration_response": {k: v for k, v in answer.items() if k not in _SECRET_KEYS}}

    reg = registrations.get(session, config["issuer"], str(client_id))
    if reg is None:
        reg = registrations.add(
            session, issuer=config["issuer"], client_id=str(client_id),
            auth_login_url=config["authorization_endpoint"], auth_token_url=config["token_endpoint"],
            jwks_url=config["jwks_uri"], deployment_ids=[str(deployment_id)] if deployment_id else [],
            name=(platform_conf.get("product_family_code") or urlparse(config["issuer"]).netloc)
            if isinstance(platform_conf, dict) else "",
            auth_audience=config.get("authorization_server"), status=PENDING,
            unknown_deployment_policy=AUTO_ADD, source="dynamic", product_family=product,
        )
    else:  # registered again (e.g. the admin retried): only the same endpoints, and the admin's decision stays
        endpoints = {"authorization_endpoint": reg.auth_login_url, "token_endpoint": reg.auth_token_url,
                     "jwks_uri": reg.jwks_url}
        changed = sorted(k for k, v in endpoints.items() if config[k] != v)
        if changed:
            log.warning("dynamic_registration_conflict", registration_id=reg.id, changed=changed)
            raise DynamicRegistrationError(
                f"This platform (issuer {reg.issuer}, client id {reg.client_id}) is already registered with another "
                f"{', '.join(changed)}. Registering it again cannot change the endpoints an administrator trusted: "
                "remove the existing registration first (admin page, or adaptive-lti platform remove), then "
                "register again.", status=409)
        reg.product_family = product or reg.product_family
        if deployment_id:
            registrations.add_deployment(session, reg, str(deployment_id))
    reg.registration_data = stored
    session.flush()
    log.info("dynamic_registration", registration_id=reg.id, product_family=product,
             has_deployment=bool(deployment_id))
    return reg
