"""Encryption and keyed hashing of personal data (ID numbers, phones).

AES-256-GCM with a random nonce; the key comes from EPIGRID_FIELD_KEY, never the database.
Two sub-keys are derived with HKDF so the lookup hash and the cipher never share a key.
A sealed value starts with a key-version byte so keys can be rotated.
"""

import base64
import hashlib
import hmac
import os
from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_VERSION = 1


@cache
def _keys(master_b64: str) -> tuple[AESGCM, bytes]:
    try:
        master = base64.b64decode(master_b64 + "=" * (-len(master_b64) % 4), altchars=b"-_")
    except ValueError:
        master = b""
    if len(master) < 32:
        raise ImproperlyConfigured("EPIGRID_FIELD_KEY must be at least 32 bytes, base64-encoded")

    def derive(label: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(master)

    return AESGCM(derive(b"epigrid field encryption v1")), derive(b"epigrid lookup hash v1")


def _current():
    return _keys(settings.FIELD_ENCRYPTION_KEY)


def seal(plaintext: str) -> bytes:
    aead, _ = _current()
    nonce = os.urandom(12)
    return bytes([KEY_VERSION]) + nonce + aead.encrypt(nonce, plaintext.encode(), None)


def unseal(blob: bytes) -> str:
    blob = bytes(blob)
    if not blob:  # erased under the retention rules (people.services.persons_erase): nothing left
        return ""
    if blob[0] != KEY_VERSION:
        raise ValueError("unknown key version")
    aead, _ = _current()
    return aead.decrypt(blob[1:13], blob[13:], None).decode()


def lookup_hash(kind: str, value: str) -> str:
    """Keyed hash to find a person by ID number or phone without decrypting every row."""
    _, key = _current()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
