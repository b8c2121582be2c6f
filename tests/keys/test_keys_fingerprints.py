from __future__ import annotations

import hashlib
import hmac
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lpm_guard.keys import CorruptKeyError, public_key_id, secret_key_id
from lpm_guard.keys.fingerprints import parse_key_id, public_key_fingerprint


def test_public_key_id_is_a_prefix_of_the_spki_digest() -> None:
    public_key = Ed25519PrivateKey.generate().public_key()
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(der).hexdigest()
    assert public_key_fingerprint(public_key) == digest
    assert public_key_id(public_key) == digest[:16]


def test_secret_key_id_is_a_keyed_digest() -> None:
    secret = secrets.token_bytes(32)
    expected = hmac.new(secret, b"lpm-guard key id", hashlib.sha256).hexdigest()[:16]
    assert secret_key_id(secret) == expected
    assert not secret.hex().startswith(secret_key_id(secret))


@pytest.mark.parametrize("text", ["", "0123456789ABCDEF", "0123456789abcde", "../active", "x" * 16])
def test_parse_key_id_refuses_anything_but_16_lowercase_hex(text: str) -> None:
    with pytest.raises(CorruptKeyError, match="the active file"):
        parse_key_id(text, "the active file")


def test_parse_key_id_accepts_a_key_id() -> None:
    assert parse_key_id("0123456789abcdef", "x") == "0123456789abcdef"
