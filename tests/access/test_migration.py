"""Migration 0002 creates exactly the tables the access models describe (and goes back down)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlmodel import SQLModel

import lpm_guard.access.models  # noqa: F401  (registers the access tables)
from lpm_guard.database import make_engine, upgrade


def _access_metadata() -> MetaData:
    metadata = MetaData()
    for table in SQLModel.metadata.tables.values():
        if table.name.startswith("access_"):
            table.to_metadata(metadata)
    return metadata


def _drift(database_url: str) -> list[Any]:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _: (
                        kind != "table" or str(name).startswith("access_")
                    ),
                },
            )
            return list(compare_metadata(context, _access_metadata()))
    finally:
        engine.dispose()


def test_the_migration_matches_the_models(database_url: str) -> None:
    assert _drift(database_url) == []


def test_the_migration_goes_down_and_up_again(database_url: str) -> None:
    from alembic import command

    from lpm_guard.database import _config

    engine = make_engine(database_url)
    try:
        upgrade(engine)
        command.downgrade(_config(engine), "0001")
        assert not [t for t in inspect(engine).get_table_names() if t.startswith("access_")]
        upgrade(engine)
        assert "access_tokens" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
