"""Short-lived session tokens handed to the page after a launch.

Third-party cookies are blocked inside LMS iframes (Safari, Chrome's partitioning), so the launch page carries a
signed token in ``<meta name="adaptive-lti-session">`` and ``static/app.js`` sends it back as
``Authorization: Bearer <token>``. The token is an HS256 JWT signed with a key derived from SECRET_KEY (HKDF, its
own purpose label, so it can never verify anything else the secret protects).

Views use :func:`require_session` and read the caller with :func:`current_session`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, g, jsonify, request

ALGORITHM = "HS256"
ISSUER = "adaptive-lti"
AUDIENCE = "adaptive-lti-session"
FORM_FIELD = "session_token"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class LtiSession:
    """Who is calling, as a validated launch established it (database ids, not platform ids)."""

    launch_id: str
    registration_id: int
    deployment_id: int
    user_id: int
    context_id: int | None
    resource_link_id: int | None
    roles: tuple[str, ...]
    is_instructor: bool
    is_learner: bool
    is_test_user: bool
    locale: str | None
    message_type: str
    issued_at: float = 0.0  # the token's iat (set by verify_token; not a claim of its own)

    def to_claims(self) -> dict[str, Any]:
        data = asdict(self)
        data["roles"] = list(self.roles)
        del data["issued_at"]
        return data

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> LtiSession:
        return cls(
            launch_id=str(claims["launch_id"]),
            registration_id=int(claims["registration_id"]),
            deployment_id=int(claims["deployment_id"]),
            user_id=int(claims["user_id"]),
            context_id=None if claims.get("context_id") is None else int(claims["context_id"]),
            resource_link_id=None if claims.get("resource_link_id") is None else int(claims["resource_link_id"]),
            roles=tuple(str(r) for r in claims.get("roles") or ()),
            is_instructor=bool(claims["is_instructor"]),
            is_learner=bool(claims["is_learner"]),
            is_test_user=bool(claims["is_test_user"]),
            locale=claims.get("locale"),
            message_type=str(claims["message_type"]),
        )


class SessionTokenError(ValueError):
    """The token is missing, expired, or not ours."""


@functools.lru_cache(maxsize=8)
def _derive_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"adaptive-lti", info=b"lti-session-token")
    return hkdf.derive(secret.encode())


def issue_token(lti_session: LtiSession, *, secret: str, ttl_seconds: int) -> str:
    """A signed token that carries ``lti_session`` for ``ttl_seconds``."""
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + int(ttl_seconds),
        "lti": lti_session.to_claims(),
    }
    return jwt.encode(payload, _derive_key(secret), algorithm=ALGORITHM)


def verify_token(token: str, *, secret: str, leeway: int = 0) -> LtiSession:
    try:
        payload = jwt.decode(
            token,
            _derive_key(secret),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
        return replace(LtiSession.from_claims(payload["lti"]), issued_at=float(payload["iat"]))
    except jwt.ExpiredSignatureError as exc:
        raise SessionTokenError("session expired: launch the tool again from your course") from exc
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError) as exc:
        raise SessionTokenError("invalid session token") from exc


def _token_from_request() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    # Plain HTML form posts (no JavaScript to add a header) carry it in the body, never in the URL.
    if request.method == "POST" and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = request.form.get(FORM_FIELD, "")
        return value or None
    return None


def load_session_from_request() -> LtiSession:
    token = _token_from_request()
    if not token:
        raise SessionTokenError("missing session token (Authorization: Bearer)")
    return verify_token(token, secret=current_app.config["SECRET_KEY"])


def still_trusted(lti_session: LtiSession) -> bool:
    """A token outlives its launch by hours; it stops working as soon as an admin disables or removes its
    registration (or removes its deployment). One primary-key lookup per request. A registration or deployment
    created after the token was issued is not the one it names (SQLite can give a new row a removed row's id)."""
    from sqlalchemy import select

    from lti_tool.db import get_session
    from lti_tool.models import Deployment, Registration
    from lti_tool.models.lti import ACTIVE

    row = get_session().execute(
        select(Registration.status, Registration.created_at, Deployment.created_at)
        .join(Deployment, Deployment.registration_id == Registration.id)
        .where(Registration.id == lti_session.registration_id, Deployment.id == lti_session.deployment_id)).first()
    if row is None or row[0] != ACTIVE:
        return False
    latest = max(row[1].timestamp(), row[2].timestamp())
    return not lti_session.issued_at or latest <= lti_session.issued_at + 2  # iat is whole seconds


def require_session(*, instructor: bool = False, learner: bool = False) -> Callable[[F], F]:
    """View decorator: 401 JSON without a valid token, 403 JSON when the course role does not fit or the
    LMS registration is no longer active.

    ``instructor=True``: the caller must be an instructor of the course (context roles only).
    ``learner=True``: the caller must be a learner of the course.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                lti_session = load_session_from_request()
            except SessionTokenError as exc:
                response = jsonify(error=str(exc), code="unauthorized")
                response.status_code = 401
                response.headers["WWW-Authenticate"] = 'Bearer realm="adaptive-lti"'
                return response
            if not still_trusted(lti_session):
                return jsonify(error="this course's LMS is no longer connected to the tool: ask your administrator",
                               code="registration_inactive"), 403
            if instructor and not lti_session.is_instructor:
                return jsonify(error="this needs an instructor role in the course", code="forbidden"), 403
            if learner and not lti_session.is_learner:
                return jsonify(error="this needs a learner role in the course", code="forbidden"), 403
            g.lti_session = lti_session
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def current_session() -> LtiSession:
    """The caller's session inside a view decorated with :func:`require_session`."""
    lti_session = g.get("lti_session")
    if lti_session is None:
        raise RuntimeError("current_session() outside a @require_session view")
    return lti_session
