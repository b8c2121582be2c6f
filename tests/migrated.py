"""Fresh databases at the head revision without replaying every migration for every test.

Most tests open a platform (``Runtime.open``) on an empty database, and replaying the Alembic
migrations took 0.4–2 s each time (a SQLite table rebuild per ``batch_alter_table``, the
migration files loaded again), most of the suite's set-up. Here the real migrations run once per
test process into a template; an empty database that ``Runtime.open`` upgrades to head then
gets the template's contents instead: SQLite by its backup API, PostgreSQL by replaying
``pg_dump``'s output of the template. Databases that are not empty, and upgrades to anything
but head, take the real migrations. The migrations themselves are tested on their own
(tests/access/test_migration.py, ``test_the_migrations_match_the_models``).
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, inspect

from lpm_guard.database import make_engine, upgrade
from tests import postgres


def _empty(engine: Engine) -> bool:
    return not inspect(engine).get_table_names()


class Templates:
    def __init__(self, folder: Path, postgres_server: Callable[[], str | None]) -> None:
        self.folder = folder
        self._postgres_server = postgres_server  # started only if a test asks for PostgreSQL
        self._sqlite: Path | None = None
        self._postgres_sql: str | None = None

    def sqlite(self) -> Path:
        if self._sqlite is None:
            path = self.folder / "head.db"
            engine = make_engine(f"sqlite:///{path}")
            upgrade(engine)
            engine.dispose()
            self._sqlite = path
        return self._sqlite

    def postgres_sql(self) -> str:
        if self._postgres_sql is None:
            server = self._postgres_server()
            assert server is not None, "a PostgreSQL URL without a PostgreSQL server"
            with postgres.database(server) as url:
                engine = make_engine(url)
                upgrade(engine)
                engine.dispose()
                dump = [postgres.tool("pg_dump"), "--no-owner", "--no-privileges"]
                self._postgres_sql = subprocess.run(
                    [*dump, postgres.libpq(url)], check=True, capture_output=True, text=True
                ).stdout
        return self._postgres_sql

    def upgrade(self, engine: Engine, revision: str = "head") -> None:
        """``lpm_guard.database.upgrade``, from the template where the database is empty."""
        if revision != "head" or not _empty(engine):
            upgrade(engine, revision)
        elif engine.dialect.name == "sqlite":
            with sqlite3.connect(self.sqlite()) as source, engine.connect() as conn:
                source.backup(conn.connection.dbapi_connection)  # type: ignore[arg-type]
        else:  # psql replays the dump (COPY blocks, meta-commands) on a connection of its own
            url = engine.url.render_as_string(hide_password=False)
            subprocess.run(
                [postgres.tool("psql"), "-q", "-v", "ON_ERROR_STOP=1", postgres.libpq(url)],
                input=self.postgres_sql(),
                check=True,
                capture_output=True,
                text=True,
            )
