from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lpm_guard.keys import KeyInfo, KeyKind, KeyStatus, KeyStore, UnknownKeyError


def _infos(store: KeyStore, kind: KeyKind) -> list[KeyInfo]:
    return [info for info in store.describe() if info.kind is kind]


def _raw(store: KeyStore) -> list[bytes]:
    return [key.public_bytes(Encoding.Raw, PublicFormat.Raw) for key in store.audit_public_keys()]


@pytest.mark.parametrize("kind", list(KeyKind))
def test_rotation_makes_a_new_current_key_and_retires_the_old(
    store: KeyStore, kind: KeyKind
) -> None:
    old = store.active_key_id(kind)
    info = store.rotate(kind)
    assert info.kind is kind
    assert info.status is KeyStatus.ACTIVE
    assert info.key_id != old
    assert store.active_key_id(kind) == info.key_id
    assert [(i.key_id, i.status) for i in _infos(store, kind)] == [
        (info.key_id, KeyStatus.ACTIVE),
        (old, KeyStatus.RETIRED),
    ]
    others = [i for i in store.describe() if i.kind is not kind]
    assert all(i.status is KeyStatus.ACTIVE for i in others)


@pytest.mark.parametrize("kind", list(KeyKind))
def test_rotation_survives_reopening(store: KeyStore, keys_dir: Path, kind: KeyKind) -> None:
    store.rotate(kind)
    store.rotate(kind)
    again = KeyStore.open(keys_dir, create=False)
    assert again.describe() == store.describe()
    assert len(_infos(again, kind)) == 3


def test_audit_rotation_keeps_old_public_keys_and_deletes_the_old_private_key(
    store: KeyStore, keys_dir: Path
) -> None:
    old_id = store.active_key_id(KeyKind.AUDIT)
    old_signature = store.audit_signing_key().sign(b"checkpoint 1")
    old_public = _raw(store)
    store.rotate(KeyKind.AUDIT)

    assert _raw(store)[1:] == old_public
    assert _raw(store)[0] not in old_public
    store.audit_public_keys()[1].verify(old_signature, b"checkpoint 1")
    new_signature = store.audit_signing_key().sign(b"checkpoint 2")
    store.audit_public_keys()[0].verify(new_signature, b"checkpoint 2")
    assert not (keys_dir / "audit" / f"{old_id}.key.pem").exists()
    assert (keys_dir / "audit" / f"{old_id}.pub.pem").exists()
    assert sorted(path.name for path in (keys_dir / "audit").glob("*.key.pem")) == [
        f"{store.active_key_id(KeyKind.AUDIT)}.key.pem"
    ]


def test_c2pa_rotation_keeps_old_certificates_under_the_same_root(
    store: KeyStore, keys_dir: Path
) -> None:
    old_id = store.active_key_id(KeyKind.C2PA)
    old_leaf = store.c2pa_certificates()[0]
    root = store.c2pa_root_certificate()
    old_credentials = store.c2pa_signer()
    store.rotate(KeyKind.C2PA)

    leaves = store.c2pa_certificates()
    assert leaves[1] == old_leaf
    assert leaves[0] != old_leaf
    assert store.c2pa_root_certificate() == root
    leaves[0].verify_directly_issued_by(root)
    new_credentials = store.c2pa_signer()
    assert new_credentials.private_key_pem != old_credentials.private_key_pem
    assert new_credentials.certificate_chain_pem != old_credentials.certificate_chain_pem
    c2pa = keys_dir / "c2pa"
    assert not (c2pa / f"{old_id}.key.pem").exists()
    assert (c2pa / f"{old_id}.chain.pem").exists()
    assert (c2pa / "root.key.pem").exists()


def test_watermark_rotation_keeps_old_secrets(store: KeyStore) -> None:
    old = store.watermark_key()
    store.rotate(KeyKind.WATERMARK)
    assert store.watermark_key() != old
    assert store.watermark_keys() == [store.watermark_key(), old]


def test_old_blobs_decrypt_after_the_data_key_rotates(store: KeyStore, keys_dir: Path) -> None:
    old_cipher = store.data_cipher()
    old_blob = old_cipher.encrypt(b"face embedding", b"subject-7")
    store.rotate(KeyKind.DATA_ENCRYPTION)
    cipher = store.data_cipher()
    assert cipher.key_id != old_cipher.key_id
    assert cipher.decrypt(old_blob, b"subject-7") == b"face embedding"
    new_blob = cipher.encrypt(b"new embedding", b"subject-8")
    reopened = KeyStore.open(keys_dir, create=False).data_cipher()
    assert reopened.decrypt(old_blob, b"subject-7") == b"face embedding"
    assert reopened.decrypt(new_blob, b"subject-8") == b"new embedding"
    with pytest.raises(UnknownKeyError):
        old_cipher.decrypt(new_blob, b"subject-8")


def test_a_leftover_retired_private_key_is_removed_on_open(store: KeyStore, keys_dir: Path) -> None:
    audit = keys_dir / "audit"
    old_id = store.active_key_id(KeyKind.AUDIT)
    old_key = (audit / f"{old_id}.key.pem").read_bytes()
    store.rotate(KeyKind.AUDIT)
    leftover = audit / f"{old_id}.key.pem"
    leftover.write_bytes(old_key)
    leftover.chmod(0o600)
    KeyStore.open(keys_dir)
    assert not leftover.exists()
