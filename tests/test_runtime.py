"""Settings, the database defaults, migrations on SQLite and PostgreSQL, and start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from lpm_guard.database import current_revision, head_revision, make_engine
from lpm_guard.errors import Unavailable
from lpm_guard.keys import KeyStoreError
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings


def test_settings_read_the_lpm_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LPM_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("LPM_PORT", "9123")
    monkeypatch.setenv("LPM_LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert settings.port == 9123 and settings.log_level == "DEBUG"
    assert settings.keys_dir == tmp_path / "elsewhere" / "keys"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'elsewhere' / 'lpm-guard.db'}"
    monkeypatch.setenv("LPM_DATABASE_URL", "postgresql+psycopg://db.example/lpm")
    assert Settings().resolved_database_url == "postgresql+psycopg://db.example/lpm"
    monkeypatch.setenv("LPM_PORT", "99999")
    with pytest.raises(ValueError):
        Settings()


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    engine.dispose()


def test_start_up_migrates_and_guards_on_each_database(database_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    runtime = Runtime.open(settings)
    try:
        assert current_revision(runtime.engine) == head_revision() == "0013"
        first = runtime.audit.entry(0).entry.event
        assert first.action == "system:database:upgrade" and first.payload["to"] == "0013"
        with pytest.raises(DBAPIError, match="append-only"), runtime.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_entries"))
        again = Runtime.open(settings)  # already at head: nothing new recorded
        assert again.audit.size() == 1
        again.close()
    finally:
        runtime.close()


def test_read_only_open_requires_keys_and_schema(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(KeyStoreError):
        Runtime.open(settings, initialise=False)
    Runtime.open(settings).close()
    engine = make_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'behind'"))
    engine.dispose()
    with pytest.raises(Unavailable, match="db upgrade"):
        Runtime.open(settings, initialise=False)
