"""Alembic environment: runs against the engine the caller passes in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import lpm_guard.audit.schema  # noqa: F401  (registers the audit tables)

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=SQLModel.metadata)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
