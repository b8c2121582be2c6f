from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lpm_guard.keys import (
    CorruptKeyError,
    DataCipher,
    DecryptionError,
    KeyId,
    KeyStore,
    KeyStoreError,
    UnknownKeyError,
    blob_key_id,
    secret_key_id,
)
from lpm_guard.keys.encryption import FORMAT_VERSION, NONCE_SIZE, TAG_SIZE


def _cipher(*keys: bytes) -> DataCipher:
    by_id = {secret_key_id(key): key for key in keys}
    return DataCipher(secret_key_id(keys[0]), by_id)


KEY = secrets.token_bytes(32)
CIPHER = _cipher(KEY)


def test_blob_layout(store: KeyStore) -> None:
    cipher = store.data_cipher()
    blob = cipher.encrypt(b"embedding", b"subject-1")
    assert blob[0] == FORMAT_VERSION
    assert blob[1:9] == bytes.fromhex(cipher.key_id)
    assert len(blob) == 1 + 8 + NONCE_SIZE + len(b"embedding") + TAG_SIZE
    assert blob_key_id(blob) == cipher.key_id


def test_nonces_are_fresh() -> None:
    first = CIPHER.encrypt(b"same", b"ad")
    second = CIPHER.encrypt(b"same", b"ad")
    assert first[9 : 9 + NONCE_SIZE] != second[9 : 9 + NONCE_SIZE]
    assert first != second


@given(plaintext=st.binary(max_size=512), associated_data=st.binary(max_size=64))
def test_round_trip(plaintext: bytes, associated_data: bytes) -> None:
    blob = CIPHER.encrypt(plaintext, associated_data)
    assert CIPHER.decrypt(blob, associated_data) == plaintext


@given(data=st.data(), plaintext=st.binary(min_size=1, max_size=64))
def test_any_flipped_bit_is_refused(data: st.DataObject, plaintext: bytes) -> None:
    blob = bytearray(CIPHER.encrypt(plaintext, b"subject-1"))
    position = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1))
    blob[position // 8] ^= 1 << (position % 8)
    with pytest.raises((DecryptionError, UnknownKeyError)):
        CIPHER.decrypt(bytes(blob), b"subject-1")


def test_a_tampered_ciphertext_is_refused() -> None:
    blob = bytearray(CIPHER.encrypt(b"landmarks", b"subject-1"))
    blob[-TAG_SIZE - 1] ^= 0x01
    with pytest.raises(DecryptionError, match="failed authentication"):
        CIPHER.decrypt(bytes(blob), b"subject-1")


def test_a_tampered_tag_is_refused() -> None:
    blob = bytearray(CIPHER.encrypt(b"landmarks", b"subject-1"))
    blob[-1] ^= 0x80
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(bytes(blob), b"subject-1")


def test_wrong_associated_data_is_refused() -> None:
    blob = CIPHER.encrypt(b"landmarks", b"subject-1")
    with pytest.raises(DecryptionError, match="wrong associated data"):
        CIPHER.decrypt(blob, b"subject-2")
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(blob, b"")


def test_an_unknown_key_is_refused() -> None:
    blob = _cipher(secrets.token_bytes(32)).encrypt(b"landmarks", b"subject-1")
    with pytest.raises(UnknownKeyError, match=blob_key_id(blob)):
        CIPHER.decrypt(blob, b"subject-1")


def test_a_truncated_blob_is_refused() -> None:
    blob = CIPHER.encrypt(b"", b"")
    with pytest.raises(DecryptionError, match="too short"):
        CIPHER.decrypt(blob[:-1], b"")
    with pytest.raises(DecryptionError, match="too short"):
        blob_key_id(b"\x01")


def test_an_unknown_format_version_is_refused() -> None:
    blob = bytearray(CIPHER.encrypt(b"landmarks", b""))
    blob[0] = FORMAT_VERSION + 1
    with pytest.raises(DecryptionError, match="format version"):
        CIPHER.decrypt(bytes(blob), b"")


def test_decrypts_with_any_held_key() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    old_blob = _cipher(old).encrypt(b"before", b"")
    both = _cipher(new, old)
    assert both.key_id == secret_key_id(new)
    assert both.decrypt(old_blob, b"") == b"before"
    assert blob_key_id(both.encrypt(b"after", b"")) == secret_key_id(new)


def test_construction_checks_its_keys() -> None:
    with pytest.raises(UnknownKeyError):
        DataCipher(KeyId("0123456789abcdef"), {secret_key_id(KEY): KEY})
    with pytest.raises(CorruptKeyError, match="32 bytes"):
        DataCipher(KeyId("0123456789abcdef"), {KeyId("0123456789abcdef"): b"short"})


def test_errors_are_key_store_errors() -> None:
    assert issubclass(DecryptionError, KeyStoreError)
    assert issubclass(UnknownKeyError, KeyStoreError)


def test_keyed_hashes_per_purpose_and_across_rotation() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    before = _cipher(old).keyed_hashes("email", b"ada@example.org")
    after = _cipher(new, old).keyed_hashes("email", b"ada@example.org")
    # One hash per data key, the current key's first; the old key's hash still matches.
    assert len(before) == 1 and len(after) == 2
    assert after[1] == before[0] and after[0] != before[0]
    assert len(before[0]) == 64
    # Another purpose, another message: other hashes.
    assert _cipher(old).keyed_hashes("phone", b"ada@example.org") != before
    assert _cipher(old).keyed_hashes("email", b"bob@example.org") != before
