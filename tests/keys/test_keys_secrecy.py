"""Nothing the store shows (describe, reprs, errors) carries a secret or a private key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from lpm_guard.keys import CorruptKeyError, KeyKind, KeyStore


def _forms(secret: bytes) -> list[str]:
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret),
    ]


def _pem_body_lines(pem: bytes) -> list[str]:
    lines = pem.decode().splitlines()
    return [line for line in lines if not line.startswith("-----") and len(line) >= 16]


def _secret_forms(store: KeyStore, keys_dir: Path) -> list[str]:
    forms: list[str] = []
    for key in store.watermark_keys():
        forms += _forms(key.secret)
    for path in (keys_dir / "data-encryption").glob("*.secret"):
        forms += _forms(path.read_bytes())
    raw_audit = store.audit_signing_key().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    forms += _forms(raw_audit)
    for path in [*keys_dir.glob("*/*.key.pem")]:
        forms += _pem_body_lines(path.read_bytes())
    forms += _pem_body_lines(store.c2pa_signer().private_key_pem)
    return forms


def _shown(store: KeyStore) -> str:
    infos = store.describe()
    return "\n".join(
        [
            repr(infos),
            *(str(info) for info in infos),
            *(info.public or "" for info in infos),
            repr(store),
            repr(store.data_cipher()),
            repr(store.watermark_key()),
            repr(store.watermark_keys()),
            repr(store.c2pa_signer()),
            str(store.c2pa_signer()),
        ]
    )


@pytest.fixture
def rotated(store: KeyStore) -> KeyStore:
    for kind in KeyKind:
        store.rotate(kind)
    return store


def test_describe_and_reprs_hold_no_secret_or_private_material(
    rotated: KeyStore, keys_dir: Path
) -> None:
    forms = _secret_forms(rotated, keys_dir)
    assert len(forms) > 20
    shown = _shown(rotated)
    leaked = [form for form in forms if form in shown]
    assert leaked == []


def test_secret_ids_are_not_prefixes_of_the_secret(rotated: KeyStore, keys_dir: Path) -> None:
    for key in rotated.watermark_keys():
        assert not key.secret.hex().startswith(key.key_id)
    for path in (keys_dir / "data-encryption").glob("*.secret"):
        assert not path.read_bytes().hex().startswith(path.name.removesuffix(".secret"))


def test_the_watermark_key_repr_shows_only_its_id(store: KeyStore) -> None:
    key = store.watermark_key()
    assert repr(key) == f"WatermarkKey(key_id={key.key_id!r})"


def test_credentials_repr_hides_the_private_key(store: KeyStore) -> None:
    credentials = store.c2pa_signer()
    assert "PRIVATE KEY" not in repr(credentials)
    assert "private_key_pem" not in repr(credentials)


def test_errors_about_a_corrupt_secret_do_not_quote_it(store: KeyStore, keys_dir: Path) -> None:
    path = next((keys_dir / "watermark").glob("*.secret"))
    secret = path.read_bytes()
    path.write_bytes(secret[:-1])
    with pytest.raises(CorruptKeyError) as raised:
        KeyStore.open(keys_dir)
    message = str(raised.value)
    assert not any(form in message for form in _forms(secret[:-1]))
    assert str(path) in message
