"""A throwaway PostgreSQL cluster for the test session (Debian's ``postgresql`` package).

``LPM_TEST_POSTGRES_URL`` points the tests at an existing server instead. Without either, the
PostgreSQL tests skip locally and fail under CI, where ``make test`` installs the package.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

import psycopg


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def tool(name: str) -> str:
    """A PostgreSQL client program (``pg_dump``, ``psql``) of the installed server's version."""
    bindir = _bindir()
    return str(bindir / name) if bindir else name


def libpq(url: str) -> str:
    """The libpq connection string of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    base, _, query = url.partition("?")
    prefix, database = base.rsplit("/", 1)
    params = dict(map(unquote, p.split("=", 1)) for p in query.split("&") if p)
    user = prefix.split("//", 1)[1].split("@", 1)[0] or "postgres"
    return " ".join(f"{k}={v}" for k, v in {**params, "user": user, "dbname": database}.items())


def _as_owner(args: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *args] if owner else args


@contextmanager
def cluster() -> Iterator[str | None]:
    """Yield a server URL (``postgresql+psycopg://…``), or None if PostgreSQL is not installed."""
    if url := os.environ.get("LPM_TEST_POSTGRES_URL"):
        yield url
        return
    bindir = _bindir()
    if bindir is None:
        yield None
        return
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="lpm-pg-"))
    data = root / "data"
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    try:
        subprocess.run(
            _as_owner(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
                owner,
            ),
            check=True,
            capture_output=True,
        )
        options = f"-k {root} -c listen_addresses='' -p 5432 -c fsync=off"
        subprocess.run(
            _as_owner(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-w",
                    "-l",
                    str(root / "log"),
                    "start",
                ],
                owner,
            ),
            check=True,
            capture_output=True,
        )
        try:
            yield f"postgresql+psycopg://postgres@/postgres?host={root}&port=5432"
        finally:
            subprocess.run(
                _as_owner(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner
                ),
                capture_output=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _dsn(url: str, database: str) -> tuple[str, str]:
    """(SQLAlchemy URL, libpq conninfo) for ``database`` on the server of ``url``."""
    base, _, query = url.partition("?")
    prefix = base.rsplit("/", 1)[0]
    return f"{prefix}/{database}?{query}", libpq(f"{prefix}/postgres?{query}")


@contextmanager
def database(url: str) -> Iterator[str]:
    """A fresh, empty database on the server; dropped afterwards."""
    name = f"lpm_test_{uuid.uuid4().hex[:12]}"
    sa_url, admin = _dsn(url, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield sa_url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
