"""What every command shares: settings, the runtime, the operator's name, errors as exit codes."""

from __future__ import annotations

import contextlib
import getpass
import json
import sys
from collections.abc import Iterator
from typing import Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from ..audit import AuditError
from ..errors import LpmGuardError
from ..keys import KeyStoreError
from ..runtime import Runtime
from ..settings import Settings


def operator() -> str:
    """How the audit log names whoever runs the CLI on this machine."""
    return f"operator:{getpass.getuser()}"


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def runtime(*, initialise: bool = True) -> Iterator[Runtime]:
    with errors():
        rt = Runtime.open(Settings(), initialise=initialise)
    try:
        with errors():
            yield rt
    finally:
        rt.close()


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """Expected failures become one line on stderr and exit status 1, never a traceback."""
    try:
        yield
    except (LpmGuardError, AuditError, KeyStoreError) as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise fail(f"database error: {getattr(exc, 'orig', None) or exc}") from None


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
