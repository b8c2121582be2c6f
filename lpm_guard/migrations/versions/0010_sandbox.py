"""The sandbox ``lpm-guard demo`` sets up: accounts marked as sandbox (pages and the audit log
say so), and explicit landmarks for a drawn character's reference photo (the rig uses them
where a face detector finds no face).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_accounts") as table:
        table.add_column(
            sa.Column("sandbox", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("consent_reference_photos") as table:
        table.add_column(sa.Column("landmarks", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_reference_photos") as table:
        table.drop_column("landmarks")
    with op.batch_alter_table("access_accounts") as table:
        table.drop_column("sandbox")
