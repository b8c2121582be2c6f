from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lpm_guard.keys import InsecurePermissionsError, KeyStoreError
from lpm_guard.keys._files import (
    check_tree,
    ensure_private_directory,
    locked,
    read_private,
    write_private,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_creates_a_0600_file(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        write_private(tmp_path / "secret", b"x")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "secret") == 0o600
    assert read_private(tmp_path / "secret") == b"x"
    assert [path.name for path in tmp_path.iterdir()] == ["secret"]


def test_write_private_replaces_atomically_and_tightens_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "active"
    target.write_bytes(b"old")
    target.chmod(0o644)
    inode = target.stat().st_ino
    write_private(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    assert target.stat().st_ino != inode


def test_write_private_leaves_nothing_when_it_fails(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    with pytest.raises(OSError):
        write_private(tmp_path / "target", b"data")
    assert [path.name for path in tmp_path.iterdir()] == ["target"]


def test_ensure_private_directory(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "keys"
    ensure_private_directory(directory)
    assert _mode(directory) == 0o700
    ensure_private_directory(directory)
    directory.chmod(0o755)
    with pytest.raises(InsecurePermissionsError, match="chmod 700"):
        ensure_private_directory(directory)


def test_read_private_refuses_loose_files_and_links(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_bytes(b"x")
    loose.chmod(0o640)
    with pytest.raises(InsecurePermissionsError, match="0640"):
        read_private(loose)
    loose.chmod(0o600)
    (tmp_path / "link").symlink_to(loose)
    with pytest.raises(KeyStoreError):
        read_private(tmp_path / "link")
    with pytest.raises(KeyStoreError, match="missing"):
        read_private(tmp_path / "absent")


def test_check_tree_walks_everything(tmp_path: Path) -> None:
    root = tmp_path / "keys"
    ensure_private_directory(root)
    ensure_private_directory(root / "kind")
    write_private(root / "kind" / "deep", b"x")
    check_tree(root)
    (root / "kind" / "deep").chmod(0o606)
    with pytest.raises(InsecurePermissionsError, match="deep"):
        check_tree(root)


def test_the_lock_file_is_private(tmp_path: Path) -> None:
    with locked(tmp_path, exclusive=True):
        pass
    assert _mode(tmp_path / ".lock") == 0o600
