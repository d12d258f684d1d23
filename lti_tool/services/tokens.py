"""Client-credentials access tokens for LTI Advantage services (1EdTech Security Framework 1.0, section 4.1).

The tool authenticates with a JWT assertion signed by its own key (``iss`` = ``sub`` = client_id, ``aud`` = the
token URL or the registration's ``auth_audience``). Tokens are cached per (issuer, client_id, token URL, scopes)
until shortly before they expire: in Redis when ``ADAPTIVE_LTI_REDIS_URL`` is set, else in the database; always
encrypted at rest, and in a small per-process cache in front. A token is never shared between registrations
(hosted Canvas registrations all share one issuer). Tokens and assertions are never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from lti_tool.logs import get_logger
from lti_tool.models import AccessTokenCache, Registration, utcnow
from lti_tool.services import keys
from lti_tool.services.crypto import DecryptionError, decrypt, encrypt
from lti_tool.services.lti_http import CLIENT, LtiHttp, LtiHttpError

log = get_logger(__name__)

PURPOSE = "access-token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RENEW_BEFORE_SECONDS = 60  # renew this long before the token expires
DEFAULT_LIFETIME = 3600

_memory: dict[str, tuple[str, float]] = {}  # cache_key -> (token, expires_at epoch)
_memory_lock = threading.Lock()
_redis_clients: dict[str, Any] = {}


class TokenError(RuntimeError):
    """The platform did not give us a token; ``error`` is an LtiHttpError when it came from HTTP."""

    def __init__(self, message: str, error: LtiHttpError | None = None) -> None:
        super().__init__(message)
        self.error = error


def cache_key(registration: Registration, scopes: Iterable[str]) -> str:
    parts = [registration.issuer, registration.client_id, registration.auth_token_url, sorted(set(scopes))]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _redis(settings: Any) -> Any | None:
    url = getattr(settings, "redis_url", None)
    if not url:
        return None
    client = _redis_clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        _redis_clients[url] = client
    return client


def _fresh(expires_at: float) -> bool:
    return expires_at - RENEW_BEFORE_SECONDS > time.time()


def _read_shared(session: Session, settings: Any, secret: str, key: str) -> tuple[str, float] | None:
    client = _redis(settings)
    try:
        if client is not None:
            raw = client.get(f"adaptive-lti:token:{key}")
            if not raw:
                return None
            stored = json.loads(raw)
            return decrypt(secret, PURPOSE, stored["t"].encode()).decode(), float(stored["e"])
        row = session.get(AccessTokenCache, key)
        if row is None:
            return None
        return decrypt(secret, PURPOSE, row.token_encrypted).decode(), row.expires_at.timestamp()
    except (DecryptionError, ValueError, KeyError):
        return None


def _write_shared(
    session: Session, settings: Any, secret: str, key: str, *, registration_id: int, token: str, expires_at: float
) -> None:
    sealed = encrypt(secret, PURPOSE, token.encode())
    client = _redis(settings)
    if client is not None:
        ttl = max(1, int(expires_at - time.time()))
        client.set(f"adaptive-lti:token:{key}", json.dumps({"t": sealed.decode(), "e": expires_at}), ex=ttl)
        return
    when = dt.datetime.fromtimestamp(expires_at, dt.UTC)
    try:
        with session.begin_nested():
            row = session.get(AccessTokenCache, key)
            if row is None:
                session.add(AccessTokenCache(cache_key=key, registration_id=registration_id,
                                             token_encrypted=sealed, expires_at=when))
            else:
                row.token_encrypted = sealed
                row.expires_at = when
    except IntegrityError:  # another worker stored one at the same moment: theirs is as good
        pass
    except OperationalError:  # SQLite: another writer committed since this transaction read (its snapshot is
        # stale, busy_timeout cannot help); the shared copy is only a cache, this process keeps the token in memory
        log.info("access_token_not_shared", registration_id=registration_id)


def invalidate(session: Session, settings: Any, registration: Registration, scopes: Iterable[str]) -> None:
    """Forget a token the platform refused (HTTP 401)."""
    key = cache_key(registration, scopes)
    with _memory_lock:
        _memory.pop(key, None)
    client = _redis(settings)
    if client is not None:
        client.delete(f"adaptive-lti:token:{key}")
    else:
        with session.begin_nested():
            session.execute(delete(AccessTokenCache).where(AccessTokenCache.cache_key == key))


def purge_expired(session: Session) -> int:
    result = session.execute(delete(AccessTokenCache).where(AccessTokenCache.expires_at < utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def client_assertion(session: Session, secret: str, registration: Registration) -> str:
    now = int(time.time())
    payload = {
        "iss": registration.client_id,
        "sub": registration.client_id,
        "aud": registration.auth_audience or registration.auth_token_url,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    return keys.sign_jwt(session, secret, payload)


def get_access_token(
    session: Session,
    settings: Any,
    registration: Registration,
    scopes: Iterable[str],
    *,
    http: LtiHttp | None = None,
) -> str:
    """A valid access token for ``scopes`` at this registration, from the cache or the token endpoint."""
    scopes = sorted(set(scopes))
    key = cache_key(registration, scopes)
    with _memory_lock:
        cached = _memory.get(key)
    if cached and _fresh(cached[1]):
        return cached[0]
    secret = settings.secret()
    shared = _read_shared(session, settings, secret, key)
    if shared and _fresh(shared[1]):
        with _memory_lock:
            _memory[key] = shared
        return shared[0]
    token, expires_at = _request_token(session, settings, secret, registration, scopes=scopes, http=http)
    _write_shared(session, settings, secret, key, registration_id=registration.id, token=token,
                  expires_at=expires_at)
    with _memory_lock:
        _memory[key] = (token, expires_at)
    return token


def _request_token(
    session: Session, settings: Any, secret: str, registration: Registration, *, scopes: list[str],
    http: LtiHttp | None,
) -> tuple[str, float]:
    own = http is None
    client = http or LtiHttp.from_settings(settings)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(session, secret, registration),
        "scope": " ".join(scopes),
    }
    try:
        response = client.request("POST", registration.auth_token_url, data=form, accept="application/json")
    except LtiHttpError as exc:
        log.warning("token_request_failed", registration_id=registration.id, status=exc.status, kind=exc.kind)
        raise TokenError(f"token endpoint refused: {exc}", exc) from exc
    finally:
        if own:
            client.close()
    # Moodle answers JSON with Content-Type text/html: parse the body, never trust the header.
    try:
        body = json.loads(response.text)
        token = body["access_token"]
    except (ValueError, KeyError, TypeError) as exc:
        error = LtiHttpError(CLIENT, response.status_code, "token endpoint answered without an access_token")
        raise TokenError(str(error), error) from exc
    if not isinstance(token, str) or not token:
        raise TokenError("token endpoint answered an empty access_token")
    try:
        lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME)
    except (TypeError, ValueError):
        lifetime = DEFAULT_LIFETIME
    log.info("token_obtained", registration_id=registration.id, scopes=len(scopes), lifetime=lifetime)
    return token, time.time() + lifetime


def clear_memory_cache() -> None:
    """For tests and after a key rotation."""
    with _memory_lock:
        _memory.clear()
