"""Kinds, ids and the plain records the key store hands out (never private material in reprs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NewType

KeyId = NewType("KeyId", str)
"""16 lowercase hex characters: a SHA-256 prefix of the public key, or a one-way id of a secret."""

Fingerprint = NewType("Fingerprint", str)
"""Lowercase hex SHA-256 of a public key or certificate (DER); for secrets, their ``KeyId``."""


class KeyKind(StrEnum):
    AUDIT = "audit"
    C2PA = "c2pa"
    WATERMARK = "watermark"
    DATA_ENCRYPTION = "data-encryption"
    TOKEN_SIGNING = "token-signing"  # noqa: S105


class KeyStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class KeyAlgorithm(StrEnum):
    ED25519 = "ed25519"
    ES256 = "es256"
    SECRET_256 = "secret-256"  # noqa: S105
    AES_256_GCM = "aes-256-gcm"


ALGORITHMS: dict[KeyKind, KeyAlgorithm] = {
    KeyKind.AUDIT: KeyAlgorithm.ED25519,
    KeyKind.C2PA: KeyAlgorithm.ES256,
    KeyKind.WATERMARK: KeyAlgorithm.SECRET_256,
    KeyKind.DATA_ENCRYPTION: KeyAlgorithm.AES_256_GCM,
    KeyKind.TOKEN_SIGNING: KeyAlgorithm.ES256,
}


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: ids, dates and public parts only.

    ``public`` is the Ed25519 raw public key in base64 (audit), the certificate chain PEM,
    leaf first (c2pa), or ``None`` (secrets).
    """

    kind: KeyKind
    key_id: KeyId
    status: KeyStatus
    algorithm: KeyAlgorithm
    created_at: datetime
    fingerprint: Fingerprint
    public: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class WatermarkKey:
    key_id: KeyId
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class C2paCredentials:
    """Inputs for c2pa-python's ``C2paSignerInfo(algorithm, chain, key, ta_url)``."""

    certificate_chain_pem: bytes
    private_key_pem: bytes = field(repr=False)
    algorithm: str = "es256"
