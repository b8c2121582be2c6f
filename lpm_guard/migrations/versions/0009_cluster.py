"""Past one machine: each live session's node URL (its stream is served there), and on
PostgreSQL procrastinate's schema, the queue ``lpm-guard worker`` takes offline jobs from.

procrastinate's schema is applied as the installed procrastinate ships it; a later procrastinate
with schema changes comes with a migration of ours that applies its SQL migrations.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("live_sessions") as table:
        table.add_column(sa.Column("node_url", sa.String(512), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from procrastinate.schema import SchemaManager

        exists = bind.exec_driver_sql(
            "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"
        ).scalar()
        if not exists:
            # Many statements in one string: psycopg sends it as one simple query (no
            # parameters), in this migration's transaction.
            raw = bind.connection.dbapi_connection
            assert raw is not None
            raw.cursor().execute(SchemaManager.get_schema())


def downgrade() -> None:
    # procrastinate's tables stay: its queue may hold other applications' jobs.
    with op.batch_alter_table("live_sessions") as table:
        table.drop_column("node_url")
