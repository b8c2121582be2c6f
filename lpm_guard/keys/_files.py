"""Private files: 0700 directories, 0600 files written atomically, reads that refuse loose modes."""

from __future__ import annotations

import fcntl
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lpm_guard.keys.errors import InsecurePermissionsError, KeyStoreError

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
_LOOSE_BITS = 0o077
_LOCK_NAME = ".lock"


def ensure_private_directory(path: Path) -> None:
    """Create ``path`` (mode 0700) if missing; its parents get the default mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, DIRECTORY_MODE)
    except FileExistsError:
        check_private(path)
        return
    os.chmod(path, DIRECTORY_MODE)
    _fsync_directory(path.parent)


def check_private(path: Path) -> None:
    """Refuse a link, or a file or directory with any group or other permission bit."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    _check_status(path, status)


def check_tree(root: Path) -> None:
    """``check_private`` for ``root`` and everything below it."""
    check_private(root)
    for directory, subdirectories, files in os.walk(root):
        for name in [*subdirectories, *files]:
            check_private(Path(directory, name))


def _check_status(path: Path, status: os.stat_result) -> None:
    if stat.S_ISLNK(status.st_mode):
        raise InsecurePermissionsError(
            f"{path} is a symbolic link; the key store holds only plain files and directories"
        )
    if status.st_mode & _LOOSE_BITS:
        wanted = DIRECTORY_MODE if stat.S_ISDIR(status.st_mode) else FILE_MODE
        raise InsecurePermissionsError(
            f"{path} has mode {stat.S_IMODE(status.st_mode):04o}, which lets other users "
            f"read or change it; refusing to use it. Fix with: chmod {wanted:o} '{path}'"
        )


def read_private(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError as error:
        raise KeyStoreError(f"{path} is missing") from error
    except OSError as error:
        raise KeyStoreError(f"cannot open {path}: {error.strerror}") from error
    with os.fdopen(fd, "rb") as file:
        _check_status(path, os.fstat(file.fileno()))
        return file.read()


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600) through a temporary file, fsync and rename."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(
        temporary,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        FILE_MODE,
    )
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), FILE_MODE)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def locked(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold ``directory/.lock``: shared for reading the store, exclusive for changing it."""
    fd = os.open(
        directory / _LOCK_NAME,
        os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
        FILE_MODE,
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)
