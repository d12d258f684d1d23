"""The tool's RSA keys: created on first use, private halves encrypted at rest, rotated with overlap.

Lifecycle (after hypothesis/lms rsa_key): ``active`` signs; ``keys rotate`` makes a new active key and marks the
old one ``retired`` with ``expires_at``; retired keys stay in the JWKS until they expire (platforms cache our JWKS),
then are deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lti_tool.models import ToolKey, utcnow
from lti_tool.services.crypto import decrypt, encrypt

PURPOSE = "tool-private-key"
KEY_SIZE = 2048


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: bytes


def _generate(secret: str) -> ToolKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    kid = uuid.uuid4().hex
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return ToolKey(kid=kid, public_jwk=jwk, private_key_encrypted=encrypt(secret, PURPOSE, pem), status="active")


def ensure_active_key(session: Session, secret: str) -> ToolKey:
    """Return the active key, creating the first one if there is none."""
    key = session.scalars(
        select(ToolKey).where(ToolKey.status == "active").order_by(ToolKey.id.desc()).limit(1)
    ).first()
    if key is None:
        key = _generate(secret)
        session.add(key)
        session.flush()
    return key


def rotate(session: Session, secret: str, retire_after: dt.timedelta) -> tuple[ToolKey, list[ToolKey]]:
    """Make a new active key; previous active keys stay published until ``now + retire_after``."""
    now = utcnow()
    retired = list(session.scalars(select(ToolKey).where(ToolKey.status == "active")))
    for key in retired:
        key.status = "retired"
        key.retired_at = now
        key.expires_at = now + retire_after
    new = _generate(secret)
    session.add(new)
    purge_expired(session, now)
    session.flush()
    return new, retired


def purge_expired(session: Session, now: dt.datetime | None = None) -> int:
    now = now or utcnow()
    result = session.execute(
        delete(ToolKey).where(ToolKey.status == "retired", ToolKey.expires_at < now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def published_keys(session: Session) -> list[ToolKey]:
    now = utcnow()
    keys = session.scalars(select(ToolKey).order_by(ToolKey.id)).all()
    return [k for k in keys if k.status == "active" or (k.expires_at is not None and k.expires_at > now)]


def jwks(session: Session) -> dict[str, Any]:
    """The public JWKS (active and not-yet-expired retired keys)."""
    return {"keys": [dict(k.public_jwk) for k in published_keys(session)]}


def signing_key(session: Session, secret: str) -> SigningKey:
    key = ensure_active_key(session, secret)
    return SigningKey(kid=key.kid, private_pem=_decrypt_pem(secret, key.private_key_encrypted))


@lru_cache(maxsize=16)
def _decrypt_pem(secret: str, token: bytes) -> bytes:
    return decrypt(secret, PURPOSE, token)


def sign_jwt(session: Session, secret: str, payload: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    """Sign ``payload`` with the active tool key (RS256, ``kid`` in the header)."""
    key = signing_key(session, secret)
    return jwt.encode(payload, key.private_pem, algorithm="RS256", headers={"kid": key.kid, **(headers or {})})
