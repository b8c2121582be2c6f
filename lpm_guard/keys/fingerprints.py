"""Key ids and fingerprints: derived one way from the key, never a prefix of a secret."""

from __future__ import annotations

import hashlib
import hmac
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lpm_guard.keys.errors import CorruptKeyError
from lpm_guard.keys.models import Fingerprint, KeyId

KEY_ID_LENGTH = 16
SECRET_ID_LABEL = b"lpm-guard key id"

_KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")

PublicKey = Ed25519PublicKey | EllipticCurvePublicKey


def public_key_der(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def public_key_fingerprint(public_key: PublicKey) -> Fingerprint:
    return Fingerprint(hashlib.sha256(public_key_der(public_key)).hexdigest())


def public_key_id(public_key: PublicKey) -> KeyId:
    return KeyId(public_key_fingerprint(public_key)[:KEY_ID_LENGTH])


def certificate_fingerprint(certificate: x509.Certificate) -> Fingerprint:
    return Fingerprint(certificate.fingerprint(hashes.SHA256()).hex())


def secret_key_id(secret: bytes) -> KeyId:
    digest = hmac.new(secret, SECRET_ID_LABEL, hashlib.sha256).hexdigest()
    return KeyId(digest[:KEY_ID_LENGTH])


def parse_key_id(text: str, source: str) -> KeyId:
    """A ``KeyId`` from untrusted text; ``source`` names where it came from, for the error."""
    if not _KEY_ID_PATTERN.fullmatch(text):
        raise CorruptKeyError(f"{source} does not hold a key id (16 lowercase hex characters)")
    return KeyId(text)
