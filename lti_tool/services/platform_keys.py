"""Platform public keys (JWKS): cached on the Registration row so every worker shares one copy.

An unknown ``kid`` triggers one refetch, at most once per ``jwks_refetch_cooldown_seconds`` per registration;
then it fails. A stale cache (older than ``jwks_cache_seconds``) is refreshed on use. Never "any key".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy.orm import Session

from lti_tool.logs import get_logger
from lti_tool.models import Registration, utcnow

log = get_logger(__name__)

USER_AGENT = "adaptive-lti/0.1 (LTI 1.3 tool; JWKS fetch)"

Fetcher = Callable[[str, float], dict[str, Any]]


class JwksError(Exception):
    """The platform's keys could not be fetched or do not contain the key asked for."""


@dataclass(frozen=True)
class KeyPolicy:
    cache_seconds: int
    refetch_cooldown_seconds: int
    timeout_seconds: float


def fetch_jwks(url: str, timeout: float) -> dict[str, Any]:
    """GET a JWKS with a User-Agent (some Moodle servers answer 403 without one)."""
    try:
        resp = requests.get(url, timeout=timeout, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    except requests.RequestException as exc:
        raise JwksError(f"cannot reach the platform's JWKS URL {url} ({type(exc).__name__})") from exc
    if resp.status_code != 200:
        raise JwksError(f"the platform's JWKS URL {url} answered HTTP {resp.status_code}")
    try:
        data = resp.json()
    except ValueError as exc:
        raise JwksError(f"the platform's JWKS URL {url} did not answer JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JwksError(f"the platform's JWKS URL {url} did not answer a key set ({{'keys': [...]}})")
    return data


def _find(jwks: dict[str, Any] | None, kid: str) -> dict[str, Any] | None:
    for key in (jwks or {}).get("keys", []):
        if isinstance(key, dict) and key.get("kid") == kid:
            return key
    return None


def _refresh(session: Session, reg: Registration, policy: KeyPolicy, fetch: Fetcher, now: dt.datetime) -> None:
    data = fetch(reg.jwks_url, policy.timeout_seconds)
    reg.jwks_cache = data
    reg.jwks_fetched_at = now
    # Committed right away: the cache (and the cool-down it implies) must outlive a launch that fails later.
    session.commit()
    log.info("platform_jwks_fetched", registration_id=reg.id, keys=len(data.get("keys", [])))


def find_key(
    session: Session,
    reg: Registration,
    kid: str,
    policy: KeyPolicy,
    fetch: Fetcher = fetch_jwks,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The platform's public JWK with ``kid``. Raises :class:`JwksError` when it is not (or no longer) there."""
    now = now or utcnow()
    fetched_at = reg.jwks_fetched_at
    age = (now - fetched_at).total_seconds() if fetched_at else None
    if reg.jwks_cache is None or age is None or age > policy.cache_seconds:
        _refresh(session, reg, policy, fetch, now)
        key = _find(reg.jwks_cache, kid)
        if key is None:
            raise JwksError(f"the platform's key set has no key with kid {kid!r}")
        return key
    key = _find(reg.jwks_cache, kid)
    if key is not None:
        return key
    if age < policy.refetch_cooldown_seconds:
        raise JwksError(
            f"no platform key with kid {kid!r}; the key set was fetched {int(age)} s ago, "
            f"so it is not fetched again for {policy.refetch_cooldown_seconds - int(age)} s"
        )
    _refresh(session, reg, policy, fetch, now)
    key = _find(reg.jwks_cache, kid)
    if key is None:
        raise JwksError(f"the platform's key set has no key with kid {kid!r} (fetched again just now)")
    return key
