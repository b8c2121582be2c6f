"""The command line run in-process against a fresh data directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lpm_guard.cli import app
from tests.access.conftest import _cheap_argon2

__all__ = ["_cheap_argon2", "cli", "data"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli(data: Path) -> Callable[..., str]:
    """``cli(*args, code=0)`` runs ``lpm-guard ARGS``, checks the exit code, returns the output."""
    runner = CliRunner()
    env = {"LPM_DATA_DIR": str(data), "LPM_LOG_LEVEL": "WARNING"}

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    return run
