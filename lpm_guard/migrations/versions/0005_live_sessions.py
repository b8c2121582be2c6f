"""Live sessions on the books.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(256), nullable=False, index=True),
        sa.Column("identity_id", sa.String(40), nullable=False),
        sa.Column("size", sa.String(16), nullable=False),
        sa.Column("fps", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_reason", sa.String(32), nullable=True),
        sa.Column("stop_detail", sa.Text, nullable=True),
        sa.Column("audit_index", sa.Integer, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
    )
    # Lists are newest first: the jobs' creation time is what they sort on.
    op.create_index("ix_generation_jobs_created_at", "generation_jobs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_generation_jobs_created_at", "generation_jobs")
    op.drop_table("live_sessions")
