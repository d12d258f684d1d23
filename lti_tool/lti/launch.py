"""Validate an LTI 1.3 launch (the id_token POSTed to /lti/launch), then record it.

Order matters: every check runs before anything is written, so a refused launch stores nothing (no user,
course, membership or nonce row). Beyond pylti1p3 this consumes the state and the nonce atomically, checks
``azp`` for an array ``aud``, accepts RS256 only, refetches the platform JWKS once on an unknown kid (with a
cool-down), allows ``jwt_leeway_seconds`` of clock skew, chooses the registration by (issuer, client_id), and
takes course rights from context roles only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import bindparam, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.logs import get_logger
from lti_tool.lti import claims as c
from lti_tool.lti.errors import LaunchError
from lti_tool.lti.login import COOKIE_MODE, STORAGE_MODE, check_registration_usable, cookie_name
from lti_tool.lti.session import LtiSession, issue_token
from lti_tool.models import (
    Context,
    Deployment,
    LaunchRecord,
    LoginState,
    Membership,
    Registration,
    ResourceLink,
    UsedNonce,
    User,
    utcnow,
)
from lti_tool.services import launches, platform_keys, registrations
from lti_tool.settings import Settings

log = get_logger(__name__)

ALLOWED_ALGORITHMS = ("RS256",)
MIN_RSA_BITS = 2048  # NIST SP 800-131A; PyJWT only warns below it
_CONSUME_STATE = delete(LoginState).where(LoginState.state == bindparam("state"))


@dataclass(frozen=True)
class StorageCheck:
    """The browser must prove (LTI client-side storage) that it started this login."""

    target: str
    state: str
    nonce: str
    origin: str


@dataclass
class ValidatedLaunch:
    claims: dict[str, Any]
    lti_session: LtiSession
    registration: Registration
    deployment: Deployment
    user: User
    context: Context | None
    membership: Membership | None
    resource_link: ResourceLink | None
    launch_id: str
    token: str
    cookie_name: str | None = None  # the state cookie to delete in the response
    storage_check: StorageCheck | None = None

    @property
    def message_type(self) -> str:
        return str(self.claims[c.MESSAGE_TYPE])


def _fail(detail: str, status: int = 400, admin_hint: str | None = None) -> LaunchError:
    return LaunchError(detail, status=status, admin_hint=admin_hint)


def _b64json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _unverified(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload before verification (only to pick the registration and key; verified below).

    Parsed by hand once: PyJWT's segment validation is slow enough to matter at launch rates.
    """
    parts = id_token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise _fail("The id_token is not a signed JWT (it must have three dot-separated parts).")
    try:
        header = _b64json(parts[0])
        payload = _b64json(parts[1])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _fail("The id_token cannot be decoded as a JWT.") from exc
    if not isinstance(header, dict):
        raise _fail("The id_token cannot be decoded as a JWT.")
    if not isinstance(payload, dict):
        raise _fail("The id_token's payload is not a JSON object.")
    return header, payload


def _client_id(payload: dict[str, Any]) -> str:
    aud = payload.get("aud")
    azp = payload.get("azp")
    if isinstance(aud, list):
        if not aud:
            raise _fail("The id_token's 'aud' is an empty array.")
        if not azp:
            raise _fail("The id_token's 'aud' is an array but it has no 'azp' (authorized party).")
        if azp not in aud:
            raise _fail(f"The id_token's 'azp' ({azp!r}) is not one of its audiences.")
        return str(azp)
    if isinstance(aud, str) and aud:
        if azp is not None and azp != aud:
            raise _fail(f"The id_token's 'azp' ({azp!r}) differs from its 'aud' ({aud!r}).")
        return aud
    raise _fail("The id_token has no 'aud' (audience).")


@functools.lru_cache(maxsize=256)
def _rsa_public_key(n: str, e: str) -> Any:
    """The parsed RSA public key for a JWK's modulus and exponent, parsed once per process. Keyed by the key
    material itself, so a platform that rotates or replaces a key under the same kid gets the new one."""
    return RSAAlgorithm.from_jwk({"kty": "RSA", "n": n, "e": e})


def _verify_signature(
    token: str, jwk: dict[str, Any], reg: Registration, client_id: str, leeway: int
) -> dict[str, Any]:
    if jwk.get("kty") != "RSA" or jwk.get("alg") not in (None, *ALLOWED_ALGORITHMS):
        raise _fail(f"The platform key {jwk.get('kid')!r} is not an RS256 key.")
    try:
        n, e = jwk["n"], jwk["e"]
        if not isinstance(n, str) or not isinstance(e, str):
            raise ValueError("n and e must be strings")
        public_key = _rsa_public_key(n, e)
    except (jwt.InvalidKeyError, ValueError, KeyError, TypeError) as exc:
        raise _fail(f"The platform key {jwk.get('kid')!r} in its JWKS is malformed.") from exc
    if public_key.key_size < MIN_RSA_BITS:
        raise _fail(f"The platform key {jwk.get('kid')!r} is malformed or too short ({public_key.key_size} bits; "
                    f"at least {MIN_RSA_BITS} are required).")
    try:
        return jwt.decode(
            token,
            public_key,
            algorithms=list(ALLOWED_ALGORITHMS),
            audience=client_id,
            issuer=reg.issuer,
            leeway=leeway,
            options={"require": ["iss", "aud", "exp", "iat"]},
        )
    except jwt.InvalidSignatureError as exc:
        raise _fail("The id_token's signature does not verify with the platform key it names (kid).") from exc
    except jwt.ExpiredSignatureError as exc:
        raise _fail("The id_token has expired (exp is in the past). Check the platform's clock.") from exc
    except jwt.ImmatureSignatureError as exc:
        raise _fail("The id_token is not valid yet (iat or nbf is in the future). Check the platform's clock.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise _fail(f"The id_token has no '{exc.claim}' claim.") from exc
    except jwt.InvalidIssuedAtError as exc:
        raise _fail("The id_token's 'iat' is not a number.") from exc
    except jwt.InvalidAudienceError as exc:
        raise _fail("The id_token's audience is not this tool's client id.") from exc
    except jwt.InvalidIssuerError as exc:
        raise _fail("The id_token's issuer does not match the registration.") from exc
    except jwt.InvalidTokenError as exc:
        raise _fail(f"The id_token is invalid ({type(exc).__name__}).") from exc


def _check_lti_claims(claims: dict[str, Any]) -> str:
    version = claims.get(c.VERSION)
    message_type = claims.get(c.MESSAGE_TYPE)
    if version is None and message_type is None and claims.get(c.DEPLOYMENT_ID) is None:
        raise _fail("The id_token is not an LTI 1.3 message: it has none of the LTI claims "
                    "(message_type, version, deployment_id).")
    if version is None:
        raise _fail("The id_token has no LTI version claim.")
    if version != c.LTI_VERSION:
        raise _fail(f"The id_token's LTI version is {version!r}; this tool speaks LTI {c.LTI_VERSION}.")
    if not message_type:
        raise _fail("The id_token has no message_type claim.")
    if message_type not in c.MESSAGE_TYPES:
        raise _fail(f"The message type {message_type!r} is not supported; this tool accepts "
                    f"{', '.join(c.MESSAGE_TYPES)}.")
    if not claims.get(c.DEPLOYMENT_ID) or not isinstance(claims.get(c.DEPLOYMENT_ID), str):
        raise _fail("The id_token has no deployment_id claim.")
    sub = claims.get("sub")
    if not sub or not isinstance(sub, str):
        raise _fail("The id_token has no 'sub' (user id) claim.")
    if c.ROLES not in claims:
        raise _fail("The id_token has no roles claim (an empty array is fine, a missing claim is not).")
    if not isinstance(claims[c.ROLES], list):
        raise _fail("The id_token's roles claim is not an array.")
    context = claims.get(c.CONTEXT)
    if context is not None and (not isinstance(context, dict) or not context.get("id")):
        raise _fail("The id_token's context claim has no 'id'.")
    if message_type == c.RESOURCE_LINK_REQUEST:
        link = claims.get(c.RESOURCE_LINK)
        if not isinstance(link, dict) or not link.get("id"):
            raise _fail("The id_token has no resource_link id (required in an LtiResourceLinkRequest).")
    else:
        dl = claims.get(c.DL_SETTINGS)
        if not isinstance(dl, dict) or not dl.get("deep_link_return_url"):
            raise _fail("The deep linking request has no deep_linking_settings.deep_link_return_url.")
    return str(message_type)


def launch_locale(claims: Mapping[str, Any]) -> str | None:
    """The page language the platform asks for: ``launch_presentation.locale`` (LTI Core 1.3),
    else the OpenID Connect ``locale`` claim (a user profile setting, which Moodle and Canvas also send)."""
    presentation = claims.get(c.LAUNCH_PRESENTATION)
    for value in (presentation.get("locale") if isinstance(presentation, dict) else None, claims.get("locale")):
        if isinstance(value, str) and value.strip():
            return value.strip()[:32]
    return None


def token_locale(id_token: str) -> str | None:
    """The language an id_token asks for, read without verifying it: only for choosing the language of the page
    that refuses it."""
    try:
        return launch_locale(_unverified(id_token)[1])
    except LaunchError:
        return None


def validate_launch(
    session: Session,
    settings: Settings,
    form: Mapping[str, str],
    cookies: Mapping[str, str],
    *,
    fetch: platform_keys.Fetcher = platform_keys.fetch_jwks,
) -> ValidatedLaunch:
    """Validate the launch form, record it (not committed) and return it; raise LaunchError when refused."""
    if form.get("error"):
        raise _fail(f"The platform answered the login with an error: {form.get('error')!s:.100}"
                    f" {form.get('error_description', '')!s:.300}")
    id_token = form.get("id_token") or ""
    state = form.get("state") or ""
    if not id_token:
        raise _fail("The launch has no id_token.")
    if not state:
        raise _fail("The launch has no state: it must follow this tool's OIDC login (/lti/login).")
    header, unverified = _unverified(id_token)
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise _fail(f"The id_token is signed with alg {alg!r}; only RS256 is accepted.")
    kid = header.get("kid")
    if not kid or not isinstance(kid, str):
        raise _fail("The id_token's header has no 'kid' (key id).")
    if not id_token.rsplit(".", 1)[1]:
        raise _fail("The id_token has no signature.")
    issuer = unverified.get("iss")
    if not issuer or not isinstance(issuer, str):
        raise _fail("The id_token has no 'iss' (issuer).")
    client_id = _client_id(unverified)
    reg = registrations.get(session, issuer, client_id)
    if reg is None:
        raise _fail(f"No platform registration for issuer {issuer!r} and client id {client_id!r}.",
                    admin_hint="Register the platform (adaptive-lti platform add, or dynamic registration).")
    check_registration_usable(reg)

    now = utcnow()
    login_state = session.get(LoginState, state)
    if login_state is None:
        raise _fail("The launch's state is unknown or was already used. Each login can be used once: "
                    "launch the tool again from the course.")
    if login_state.expires_at < now:
        raise _fail("The login expired before the launch arrived; launch the tool again.")
    if login_state.registration_id != reg.id:
        raise _fail("The launch's state was issued for another platform registration.")
    state_cookie = None
    if state.startswith(COOKIE_MODE):
        state_cookie = cookie_name(state)
        if state_cookie not in cookies:
            # Third-party cookies blocked (Safari, strict settings): the server-side state, single-use and
            # short-lived, is still required; the cookie only adds browser binding where it works.
            log.info("launch_without_state_cookie", registration_id=reg.id)

    policy = platform_keys.KeyPolicy(
        cache_seconds=settings.jwks_cache_seconds,
        refetch_cooldown_seconds=settings.jwks_refetch_cooldown_seconds,
        timeout_seconds=settings.http_timeout_seconds,
    )
    try:
        jwk = platform_keys.find_key(session, reg, kid, policy, fetch)
    except platform_keys.JwksError as exc:
        raise _fail(f"The id_token names key {kid!r}, which the platform does not publish: {exc}",
                    admin_hint=f"The platform's JWKS URL is {reg.jwks_url}.") from exc
    claims = _verify_signature(id_token, jwk, reg, client_id, settings.jwt_leeway_seconds)

    nonce = claims.get("nonce")
    if not nonce or not isinstance(nonce, str):
        raise _fail("The id_token has no nonce.")
    if nonce != login_state.nonce:
        raise _fail("The id_token's nonce is not the one this tool issued at login.")
    message_type = _check_lti_claims(claims)
    role_info = c.classify_roles(claims[c.ROLES])
    if message_type == c.DEEP_LINKING_REQUEST and not role_info.is_instructor:
        raise _fail("Only instructors of the course can add activities (deep linking).", status=403)

    deployment_id = claims[c.DEPLOYMENT_ID]
    deployment = registrations.find_deployment(session, reg, deployment_id)
    if deployment is None and reg.unknown_deployment_policy != registrations.AUTO_ADD:
        raise _fail(
            f"The deployment id {deployment_id!r} is not known for this platform ({reg.name or reg.issuer}).",
            status=403,
            admin_hint=f"An administrator of this tool can add it: adaptive-lti platform add-deployment "
            f"--issuer {reg.issuer} --client-id {reg.client_id} --deployment-id {deployment_id}  "
            "(or set the registration's unknown-deployment policy to auto_add).",
        )

    # ---- everything checked: from here on, write (the caller commits) -------------------------------
    consumed = session.execute(_CONSUME_STATE, {"state": state})
    if getattr(consumed, "rowcount", 1) != 1:
        raise _fail("The launch's state was already used (replayed launch).")
    exp = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    session.add(UsedNonce(registration_id=reg.id, nonce=nonce[:255],
                          expires_at=exp + dt.timedelta(seconds=settings.jwt_leeway_seconds + 60)))
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise _fail("This id_token was already used (its nonce was consumed): a replayed launch is refused.") \
            from exc
    if deployment is None:
        deployment = registrations.add_deployment(session, reg, deployment_id, auto=True)
        log.info("deployment_auto_added", registration_id=reg.id, deployment_db_id=deployment.id)

    rows = launches.record_launch(
        session, reg, deployment, claims,
        roles=list(claims[c.ROLES]), is_instructor=role_info.is_instructor,
        is_learner=role_info.is_learner, is_test_user=role_info.is_test_user,
    )
    launch_id = uuid.uuid4().hex
    session.add(LaunchRecord(
        id=launch_id, registration_id=reg.id, deployment_id=deployment.id, user_id=rows.user.id,
        context_id=rows.context.id if rows.context else None, message_type=message_type, claims=claims,
        expires_at=now + dt.timedelta(seconds=settings.session_token_ttl_seconds),
    ))
    locale = launch_locale(claims)
    lti_session = LtiSession(
        launch_id=launch_id,
        registration_id=reg.id,
        deployment_id=deployment.id,
        user_id=rows.user.id,
        context_id=rows.context.id if rows.context else None,
        resource_link_id=rows.resource_link.id if rows.resource_link else None,
        roles=tuple(str(r) for r in claims[c.ROLES]),
        is_instructor=role_info.is_instructor,
        is_learner=role_info.is_learner,
        is_test_user=role_info.is_test_user,
        locale=locale,
        message_type=message_type,
    )
    token = issue_token(lti_session, secret=settings.secret(), ttl_seconds=settings.session_token_ttl_seconds)
    storage_check = None
    if state.startswith(STORAGE_MODE):
        auth = reg.auth_login_url.split("/", 3)
        storage_check = StorageCheck(
            target=str(form.get("lti_storage_target") or "_parent"), state=state, nonce=nonce,
            origin="/".join(auth[:3]),
        )
    session.flush()
    log.info("launch_validated", registration_id=reg.id, deployment_db_id=deployment.id,
             user_db_id=rows.user.id, message_type=message_type, test_user=role_info.is_test_user)
    return ValidatedLaunch(
        claims=claims, lti_session=lti_session, registration=reg, deployment=deployment, user=rows.user,
        context=rows.context, membership=rows.membership, resource_link=rows.resource_link,
        launch_id=launch_id, token=token, cookie_name=state_cookie, storage_check=storage_check,
    )
