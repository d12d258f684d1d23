"""Encryption at rest with a key derived from SECRET_KEY (HKDF-SHA256 -> Fernet)."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(RuntimeError):
    """Stored data cannot be decrypted: SECRET_KEY changed or the data is corrupt."""


def derive_fernet(secret: str, purpose: str) -> Fernet:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"adaptive-lti", info=purpose.encode())
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret.encode())))


def encrypt(secret: str, purpose: str, data: bytes) -> bytes:
    return derive_fernet(secret, purpose).encrypt(data)


def decrypt(secret: str, purpose: str, token: bytes) -> bytes:
    try:
        return derive_fernet(secret, purpose).decrypt(token)
    except InvalidToken as exc:
        raise DecryptionError(
            f"cannot decrypt {purpose}: ADAPTIVE_LTI_SECRET_KEY differs from the one it was encrypted with"
        ) from exc
