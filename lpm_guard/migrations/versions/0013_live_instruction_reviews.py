"""Live instructions the policy sent to review: the queue a reviewer decides from, and the
decision the running session's watch takes to it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_instruction_reviews",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("session_id", sa.String(40), nullable=False, index=True),
        sa.Column("owner", sa.String(256), nullable=False, index=True),
        sa.Column("identity_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("instructions", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("rule_ids", sa.Text, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("layer", sa.String(32), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(256), nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("live_instruction_reviews")
