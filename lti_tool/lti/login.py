"""OIDC third-party initiated login (LTI Security Framework 1.0, step 1-2).

The state and nonce we issue live in the database (``LoginState``) so any worker can finish the launch. The
browser is bound to the login either by a per-login cookie (``SameSite=None; Secure; Partitioned`` over https) or,
where the platform offers it (``lti_storage_target``), by LTI client-side postMessage storage.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlparse

from sqlalchemy import delete
from sqlalchemy.orm import Session

from lti_tool.lti.errors import LoginError, RegistrationRefused
from lti_tool.models import LaunchRecord, LoginState, Registration, UsedNonce, utcnow
from lti_tool.models.lti import DISABLED, PENDING
from lti_tool.services import registrations
from lti_tool.settings import Settings

COOKIE_PREFIX = "lti_state_"
# The first character of a state says how the browser is bound to it: cookie or client-side storage.
COOKIE_MODE = "k"
STORAGE_MODE = "c"


@dataclass(frozen=True)
class LoginResult:
    redirect_url: str
    state: str
    nonce: str
    storage_target: str | None  # set: bind through postMessage storage instead of a cookie
    platform_origin: str


def cookie_name(state: str) -> str:
    return COOKIE_PREFIX + state


def launch_url(settings: Settings) -> str:
    return settings.base_url + "/lti/launch"


def check_registration_usable(reg: Registration) -> None:
    if reg.status == PENDING:
        raise RegistrationRefused(
            f"The platform {reg.issuer} (client id {reg.client_id}) registered itself but an administrator of "
            "this tool has not approved it yet.",
            admin_hint=f"Approve it on the admin page or run: adaptive-lti platform approve --issuer {reg.issuer} "
            f"--client-id {reg.client_id}",
        )
    if reg.status == DISABLED:
        raise RegistrationRefused(
            f"The platform {reg.issuer} (client id {reg.client_id}) is disabled in this tool.",
            admin_hint="An administrator of this tool can enable it again on the registrations admin page.",
        )


HOUSEKEEPING_SECONDS = 60.0
_housekeeping = {"last": float("-inf")}
_housekeeping_lock = threading.Lock()


def _housekeeping_due() -> bool:
    """At most once a minute per process: three DELETEs on every login cost more CPU than the login itself."""
    now = time.monotonic()
    with _housekeeping_lock:
        if now - _housekeeping["last"] < HOUSEKEEPING_SECONDS:
            return False
        _housekeeping["last"] = now
        return True


def purge_expired(session: Session, now: dt.datetime | None = None) -> None:
    """Delete expired logins, consumed nonces past their token's life and old launch records (indexed columns).

    Only housekeeping: an expired login or launch is refused by its ``expires_at`` whether or not it was deleted,
    and a nonce row lives until its token can no longer be accepted.
    """
    now = now or utcnow()
    session.execute(delete(LoginState).where(LoginState.expires_at < now))
    session.execute(delete(UsedNonce).where(UsedNonce.expires_at < now))
    session.execute(delete(LaunchRecord).where(LaunchRecord.expires_at < now))


def begin_login(session: Session, settings: Settings, params: Mapping[str, str]) -> LoginResult:
    """Validate the login initiation and record state + nonce; return where to send the browser."""
    iss = (params.get("iss") or "").strip()
    login_hint = params.get("login_hint") or ""
    target_link_uri = params.get("target_link_uri") or ""
    client_id = params.get("client_id") or None
    if not iss:
        raise LoginError("The login request has no 'iss' (issuer) parameter.")
    if not login_hint:
        raise LoginError("The login request has no 'login_hint' parameter.")
    if not target_link_uri:
        raise LoginError("The login request has no 'target_link_uri' parameter.")
    tool = urlparse(settings.base_url)
    target = urlparse(target_link_uri)
    if target.scheme not in ("http", "https") or target.netloc != tool.netloc:
        raise LoginError(
            f"The target_link_uri {target_link_uri!r} does not point at this tool ({settings.base_url}).",
            admin_hint="Check the tool's launch URL in the platform's tool configuration and ADAPTIVE_LTI_BASE_URL.",
        )
    reg = registrations.find_for_login(session, iss, client_id)
    if reg is None:
        who = f"issuer {iss!r}" + (f" and client id {client_id!r}" if client_id else " (no client_id sent)")
        raise LoginError(
            f"No platform registration matches {who}.",
            status=400,
            admin_hint="Register the platform with `adaptive-lti platform add` or dynamic registration "
            "(see the tool's admin page for the URLs).",
        )
    check_registration_usable(reg)

    storage_target = params.get("lti_storage_target") or None
    state = (STORAGE_MODE if storage_target else COOKIE_MODE) + secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    now = utcnow()
    if _housekeeping_due():
        purge_expired(session, now)
    session.add(
        LoginState(
            state=state,
            nonce=nonce,
            registration_id=reg.id,
            target_link_uri=target_link_uri,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=settings.login_state_ttl_seconds),
        )
    )
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": reg.client_id,
        "redirect_uri": launch_url(settings),
        "login_hint": login_hint,
        "state": state,
        "nonce": nonce,
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    sep = "&" if "?" in reg.auth_login_url else "?"
    auth = urlparse(reg.auth_login_url)
    return LoginResult(
        redirect_url=reg.auth_login_url + sep + urlencode(query),
        state=state,
        nonce=nonce,
        storage_target=storage_target,
        platform_origin=f"{auth.scheme}://{auth.netloc}",
    )
