from __future__ import annotations

import base64
import multiprocessing
import os
import shutil
import stat
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from lpm_guard.keys import (
    CorruptKeyError,
    InsecurePermissionsError,
    KeyKind,
    KeyStatus,
    KeyStore,
    KeyStoreError,
    KeyStoreMissingError,
)


def _tree(root: Path) -> Iterator[Path]:
    yield root
    for directory, subdirectories, files in os.walk(root):
        for name in [*subdirectories, *files]:
            yield Path(directory, name)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _raw_private(store: KeyStore) -> bytes:
    return store.audit_signing_key().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def test_first_open_creates_one_active_key_of_each_kind(store: KeyStore) -> None:
    infos = store.describe()
    assert [info.kind for info in infos] == list(KeyKind)
    assert all(info.status is KeyStatus.ACTIVE for info in infos)
    for info in infos:
        assert store.active_key_id(info.kind) == info.key_id


def test_directories_are_0700_and_files_0600(store: KeyStore, keys_dir: Path) -> None:
    paths = list(_tree(keys_dir))
    assert any(path.suffix == ".pem" for path in paths)
    for path in paths:
        if path.is_dir():
            assert _mode(path) == 0o700, path
        else:
            assert path.is_file() and not path.is_symlink(), path
            assert _mode(path) == 0o600, path


def test_modes_do_not_depend_on_the_umask(keys_dir: Path) -> None:
    previous = os.umask(0)
    try:
        KeyStore.open(keys_dir)
    finally:
        os.umask(previous)
    assert {_mode(path) for path in _tree(keys_dir) if path.is_dir()} == {0o700}
    assert {_mode(path) for path in _tree(keys_dir) if path.is_file()} == {0o600}


def test_no_temporary_files_are_left_behind(store: KeyStore, keys_dir: Path) -> None:
    store.rotate(KeyKind.DATA_ENCRYPTION)
    assert not [path for path in _tree(keys_dir) if path.name.endswith(".tmp")]


def test_reopening_loads_the_same_keys(store: KeyStore, keys_dir: Path) -> None:
    again = KeyStore.open(keys_dir, create=False)
    assert again.describe() == store.describe()
    assert _raw_private(again) == _raw_private(store)
    assert again.c2pa_signer() == store.c2pa_signer()
    assert again.watermark_keys() == store.watermark_keys()
    blob = store.data_cipher().encrypt(b"landmarks", b"subject-1")
    assert again.data_cipher().decrypt(blob, b"subject-1") == b"landmarks"


def test_audit_key_signs_and_its_public_key_verifies(store: KeyStore) -> None:
    signature = store.audit_signing_key().sign(b"checkpoint")
    store.audit_public_keys()[0].verify(signature, b"checkpoint")


def test_audit_info_shows_the_raw_public_key(store: KeyStore) -> None:
    info = next(info for info in store.describe() if info.kind is KeyKind.AUDIT)
    raw = store.audit_public_keys()[0].public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert info.public == base64.b64encode(raw).decode()


def test_open_without_create_refuses_a_missing_store(keys_dir: Path) -> None:
    with pytest.raises(KeyStoreMissingError, match="no key store"):
        KeyStore.open(keys_dir, create=False)
    assert not keys_dir.exists()


def test_open_without_create_refuses_a_missing_kind(store: KeyStore, keys_dir: Path) -> None:
    shutil.rmtree(keys_dir / "watermark")
    with pytest.raises(KeyStoreMissingError, match="watermark"):
        KeyStore.open(keys_dir, create=False)


def test_open_creates_only_the_missing_kind(store: KeyStore, keys_dir: Path) -> None:
    shutil.rmtree(keys_dir / "watermark")
    again = KeyStore.open(keys_dir)
    for kind in (KeyKind.AUDIT, KeyKind.C2PA, KeyKind.DATA_ENCRYPTION):
        assert again.active_key_id(kind) == store.active_key_id(kind)
    assert again.watermark_key() != store.watermark_key()


@pytest.mark.parametrize("create", [True, False])
def test_a_group_readable_key_file_is_refused(
    store: KeyStore, keys_dir: Path, create: bool
) -> None:
    key_file = keys_dir / "audit" / f"{store.active_key_id(KeyKind.AUDIT)}.key.pem"
    key_file.chmod(0o640)
    with pytest.raises(InsecurePermissionsError) as raised:
        KeyStore.open(keys_dir, create=create)
    message = str(raised.value)
    assert str(key_file) in message
    assert "0640" in message
    assert f"chmod 600 '{key_file}'" in message


def test_an_other_readable_secret_is_refused(store: KeyStore, keys_dir: Path) -> None:
    secret = next((keys_dir / "data-encryption").glob("*.secret"))
    secret.chmod(0o604)
    with pytest.raises(InsecurePermissionsError, match="chmod 600"):
        KeyStore.open(keys_dir)


def test_a_loose_directory_is_refused(store: KeyStore, keys_dir: Path) -> None:
    (keys_dir / "c2pa").chmod(0o750)
    with pytest.raises(InsecurePermissionsError, match="chmod 700"):
        KeyStore.open(keys_dir, create=False)


def test_rotation_refuses_a_loose_file(store: KeyStore, keys_dir: Path) -> None:
    (keys_dir / "watermark" / "active").chmod(0o644)
    with pytest.raises(InsecurePermissionsError):
        store.rotate(KeyKind.WATERMARK)


def test_a_symbolic_link_is_refused(store: KeyStore, keys_dir: Path, tmp_path: Path) -> None:
    active = keys_dir / "audit" / "active"
    elsewhere = tmp_path / "active"
    elsewhere.write_bytes(active.read_bytes())
    elsewhere.chmod(0o600)
    active.unlink()
    active.symlink_to(elsewhere)
    with pytest.raises(InsecurePermissionsError, match="symbolic link"):
        KeyStore.open(keys_dir)


def test_an_active_file_that_is_not_a_key_id_is_refused(store: KeyStore, keys_dir: Path) -> None:
    (keys_dir / "audit" / "active").write_text("../../etc/passwd\n")
    with pytest.raises(CorruptKeyError, match="does not hold a key id"):
        KeyStore.open(keys_dir)


def test_an_active_file_naming_an_absent_key_is_refused(store: KeyStore, keys_dir: Path) -> None:
    (keys_dir / "audit" / "active").write_text("0123456789abcdef\n")
    with pytest.raises(KeyStoreMissingError, match="0123456789abcdef"):
        KeyStore.open(keys_dir)


def test_a_secret_that_does_not_match_its_id_is_refused(store: KeyStore, keys_dir: Path) -> None:
    secret = next((keys_dir / "watermark").glob("*.secret"))
    secret.write_bytes(bytes(32))
    with pytest.raises(CorruptKeyError, match="does not hold the 32-byte secret"):
        KeyStore.open(keys_dir)


def test_a_swapped_public_key_is_refused(store: KeyStore, keys_dir: Path) -> None:
    store.rotate(KeyKind.AUDIT)
    current, retired = (info.key_id for info in store.describe() if info.kind is KeyKind.AUDIT)
    audit = keys_dir / "audit"
    (audit / f"{retired}.pub.pem").write_bytes((audit / f"{current}.pub.pem").read_bytes())
    with pytest.raises(CorruptKeyError, match=f"does not hold the public key {retired}"):
        KeyStore.open(keys_dir)


@pytest.mark.parametrize(
    ("kind", "suffix", "content", "message"),
    [
        (KeyKind.AUDIT, ".key.pem", b"not a key", "not an unencrypted PEM private key"),
        (KeyKind.AUDIT, ".pub.pem", b"not a key", "not a PEM public key"),
        (KeyKind.C2PA, ".chain.pem", b"not a chain", "not a PEM certificate chain"),
        (KeyKind.AUDIT, ".json", b"{}", "not valid key metadata"),
        (KeyKind.WATERMARK, ".json", b"[", "not valid key metadata"),
    ],
)
def test_an_unreadable_key_file_is_refused(
    store: KeyStore, keys_dir: Path, kind: KeyKind, suffix: str, content: bytes, message: str
) -> None:
    (keys_dir / kind.value / f"{store.active_key_id(kind)}{suffix}").write_bytes(content)
    with pytest.raises(CorruptKeyError, match=message):
        KeyStore.open(keys_dir, create=False)


def test_metadata_for_another_kind_is_refused(store: KeyStore, keys_dir: Path) -> None:
    path = keys_dir / "audit" / f"{store.active_key_id(KeyKind.AUDIT)}.json"
    path.write_text(path.read_text().replace('"audit"', '"c2pa"'))
    with pytest.raises(CorruptKeyError, match="does not describe the audit key"):
        KeyStore.open(keys_dir)


def test_a_private_key_of_the_wrong_kind_is_refused(store: KeyStore, keys_dir: Path) -> None:
    audit_key = keys_dir / "audit" / f"{store.active_key_id(KeyKind.AUDIT)}.key.pem"
    c2pa_key = keys_dir / "c2pa" / f"{store.active_key_id(KeyKind.C2PA)}.key.pem"
    c2pa_key.write_bytes(audit_key.read_bytes())
    with pytest.raises(CorruptKeyError, match="does not hold the ES256 private key"):
        KeyStore.open(keys_dir)


def test_rotation_refuses_a_root_key_that_does_not_match_the_root(
    store: KeyStore, keys_dir: Path
) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    (keys_dir / "c2pa" / "root.key.pem").write_bytes(
        other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    with pytest.raises(CorruptKeyError, match="is not the private key of"):
        store.rotate(KeyKind.C2PA)


def _open_and_report(directory: str) -> dict[KeyKind, str]:
    store = KeyStore.open(Path(directory))
    return {kind: store.active_key_id(kind) for kind in KeyKind}


def test_concurrent_first_opens_create_one_set_of_keys(keys_dir: Path) -> None:
    # Spawned, not forked: a fork of an xdist worker copies locks other threads hold, and the
    # clean-clone CI at 3a33fac hung here for over 15 minutes (the pool waiting on its children).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        seen = list(pool.map(_open_and_report, [str(keys_dir)] * 8))
    assert all(report == seen[0] for report in seen)
    for kind in KeyKind:
        assert len(list((keys_dir / kind.value).glob("*.json"))) == 1


def test_every_error_is_a_key_store_error() -> None:
    for error in (CorruptKeyError, InsecurePermissionsError, KeyStoreMissingError):
        assert issubclass(error, KeyStoreError)
