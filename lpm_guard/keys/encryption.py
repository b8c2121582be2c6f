"""AES-256-GCM for biometric data at rest, in self-describing blobs that name their key.

A blob is ``version (1 byte) ‖ key id (8 bytes) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)``.
The header (version and key id) is authenticated along with the caller's associated data.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lpm_guard.keys.errors import CorruptKeyError, DecryptionError, UnknownKeyError
from lpm_guard.keys.fingerprints import KEY_ID_LENGTH
from lpm_guard.keys.models import KeyId

FORMAT_VERSION = 1
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
_KEY_ID_SIZE = KEY_ID_LENGTH // 2
_HEADER_SIZE = 1 + _KEY_ID_SIZE
_MINIMUM_SIZE = _HEADER_SIZE + NONCE_SIZE + TAG_SIZE


class DataCipher:
    """Encrypts with the current data key; decrypts with whichever key a blob names."""

    def __init__(self, current: KeyId, keys: Mapping[KeyId, bytes]) -> None:
        if current not in keys:
            raise UnknownKeyError(f"the current data key {current} is not among the keys given")
        for key_id, key in keys.items():
            if len(key) != KEY_SIZE:
                raise CorruptKeyError(f"data key {key_id} is not {KEY_SIZE} bytes")
        self._current = current
        self._aeads = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._keys = dict(keys)

    def __repr__(self) -> str:
        return f"DataCipher(current={self._current!r}, keys={sorted(self._aeads)!r})"

    @property
    def key_id(self) -> KeyId:
        return self._current

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        header = bytes([FORMAT_VERSION]) + bytes.fromhex(self._current)
        nonce = secrets.token_bytes(NONCE_SIZE)
        ciphertext = self._aeads[self._current].encrypt(nonce, plaintext, header + associated_data)
        return header + nonce + ciphertext

    def keyed_hashes(self, purpose: str, message: bytes) -> list[str]:
        """HMAC-SHA256 of ``message`` (hex) under a key derived (HKDF-SHA256, ``purpose`` as
        the info) from each data key, the current key's first: a lookup by keyed hash matches
        rows hashed before a rotation. Each purpose gets its own key; none is the data key."""
        ordered = [self._current, *sorted(k for k in self._keys if k != self._current)]
        return [self._keyed_hash(self._keys[key_id], purpose, message) for key_id in ordered]

    @staticmethod
    def _keyed_hash(key: bytes, purpose: str, message: bytes) -> str:
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=f"lpm-guard/keyed-hash/{purpose}".encode(),
        ).derive(key)
        mac = hmac.HMAC(derived, hashes.SHA256())
        mac.update(message)
        return mac.finalize().hex()

    def decrypt(self, blob: bytes, associated_data: bytes) -> bytes:
        # (1): the blob is long enough to hold a header, a nonce and a tag.
        if len(blob) < _MINIMUM_SIZE:
            raise DecryptionError(f"blob of {len(blob)} bytes is too short to be a sealed record")
        # (2): the format version is one this code writes.
        if blob[0] != FORMAT_VERSION:
            raise DecryptionError(f"blob has unknown format version {blob[0]}")
        # (3): the named key is one the store holds.
        key_id = blob_key_id(blob)
        aead = self._aeads.get(key_id)
        if aead is None:
            raise UnknownKeyError(f"blob was sealed with data key {key_id}, which this store lacks")
        # (4): the tag authenticates header, ciphertext and associated data.
        header, nonce = blob[:_HEADER_SIZE], blob[_HEADER_SIZE : _HEADER_SIZE + NONCE_SIZE]
        try:
            return aead.decrypt(nonce, blob[_HEADER_SIZE + NONCE_SIZE :], header + associated_data)
        except InvalidTag as error:
            raise DecryptionError(
                f"blob sealed with data key {key_id} failed authentication "
                "(tampered, or the wrong associated data)"
            ) from error


def blob_key_id(blob: bytes) -> KeyId:
    """The id of the data key that sealed ``blob`` (unauthenticated until decrypted)."""
    if len(blob) < _HEADER_SIZE:
        raise DecryptionError(f"blob of {len(blob)} bytes is too short to name a key")
    return KeyId(blob[1:_HEADER_SIZE].hex())
