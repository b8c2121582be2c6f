"""Signed manifests, kept by the reference their soft binding carries: a clip whose manifest was
stripped is resolved back to it through its watermark (GET /v1/manifests/{reference}).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signed_manifests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("manifest_label", sa.String(64), nullable=False, unique=True),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_signed_manifests_reference", "signed_manifests", ["reference"])


def downgrade() -> None:
    op.drop_index("ix_signed_manifests_reference", table_name="signed_manifests")
    op.drop_table("signed_manifests")
