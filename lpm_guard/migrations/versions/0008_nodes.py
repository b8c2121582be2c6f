"""More than one process on one database: leases on jobs and live sessions (the node that holds
each and its last heartbeat), a revoked flag and the seconds charged on each live session, and
the fingerprints of the keys every node must share.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("generation_jobs") as table:
        table.add_column(sa.Column("node_id", sa.String(64), nullable=True))
        table.add_column(_when("heartbeat_at"))
    with op.batch_alter_table("live_sessions") as table:
        table.add_column(sa.Column("node_id", sa.String(64), nullable=True))
        table.add_column(_when("heartbeat_at"))
        table.add_column(_when("revoked_at"))
        table.add_column(sa.Column("revoke_detail", sa.Text, nullable=True))
        table.add_column(
            sa.Column("charged_s", sa.Float, nullable=False, server_default=sa.text("0"))
        )
    op.create_table(
        "key_fingerprints",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        _when("recorded_at", nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("key_fingerprints")
    with op.batch_alter_table("live_sessions") as table:
        for name in ("charged_s", "revoke_detail", "revoked_at", "heartbeat_at", "node_id"):
            table.drop_column(name)
    with op.batch_alter_table("generation_jobs") as table:
        table.drop_column("heartbeat_at")
        table.drop_column("node_id")
