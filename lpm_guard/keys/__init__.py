"""The key store: audit, C2PA, watermark and data-encryption keys, created and rotated on disk."""

from lpm_guard.keys.encryption import DataCipher, blob_key_id
from lpm_guard.keys.errors import (
    CorruptKeyError,
    DecryptionError,
    InsecurePermissionsError,
    KeysDifferError,
    KeyStoreError,
    KeyStoreMissingError,
    UnknownKeyError,
)
from lpm_guard.keys.fingerprints import public_key_id, secret_key_id
from lpm_guard.keys.models import (
    C2paCredentials,
    Fingerprint,
    KeyAlgorithm,
    KeyId,
    KeyInfo,
    KeyKind,
    KeyStatus,
    WatermarkKey,
)
from lpm_guard.keys.store import KeyStore

__all__ = [
    "C2paCredentials",
    "CorruptKeyError",
    "DataCipher",
    "DecryptionError",
    "Fingerprint",
    "InsecurePermissionsError",
    "KeyAlgorithm",
    "KeyId",
    "KeyInfo",
    "KeyKind",
    "KeyStatus",
    "KeyStore",
    "KeyStoreError",
    "KeyStoreMissingError",
    "KeysDifferError",
    "UnknownKeyError",
    "WatermarkKey",
    "blob_key_id",
    "public_key_id",
    "secret_key_id",
]
