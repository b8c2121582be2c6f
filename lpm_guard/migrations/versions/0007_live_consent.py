"""Consent owned by the person: the subject's sealed address, refusals and reports, address
blocks, live capture sessions with their checks, and the reviewer's decision on each consent.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("consent_identities") as table:
        table.add_column(sa.Column("subject_email", sa.LargeBinary, nullable=True))
        table.add_column(sa.Column("subject_email_hash", sa.String(64), nullable=True))
        table.create_index("ix_consent_identities_subject_email_hash", ["subject_email_hash"])
    with op.batch_alter_table("consent_invitations") as table:
        table.add_column(_when("refused_at"))
        table.add_column(
            sa.Column("reported", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("consent_records") as table:
        table.add_column(sa.Column("capture_id", sa.String(40), nullable=True))
        table.add_column(_when("reviewed_at"))
        table.add_column(sa.Column("reviewed_by", sa.String(256), nullable=True))
        table.add_column(sa.Column("review_reason", sa.Text, nullable=True))
    op.create_table(
        "consent_captures",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "invitation_id",
            sa.String(40),
            sa.ForeignKey("consent_invitations.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("identity_id", sa.String(40), nullable=False, index=True),
        sa.Column("status", sa.String(32), nullable=False, index=True),
        sa.Column("script", sa.Text, nullable=False),
        _when("opened_at", nullable=False),
        _when("deadline", nullable=False),
        _when("submitted_at"),
        sa.Column("video_sha256", sa.String(64), nullable=True),
        sa.Column("video_type", sa.String(64), nullable=True),
        sa.Column("video", sa.LargeBinary, nullable=True),
        sa.Column("checks", sa.Text, nullable=True),
        sa.Column("transcript", sa.Text, nullable=True),
        sa.Column("hashes", sa.LargeBinary, nullable=True),
        _when("reviewed_at"),
        sa.Column("reviewed_by", sa.String(256), nullable=True),
        sa.Column("review_reason", sa.Text, nullable=True),
    )
    op.create_table(
        "consent_address_blocks",
        sa.Column("email_hash", sa.String(64), primary_key=True),
        _when("created_at", nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consent_address_blocks")
    op.drop_table("consent_captures")
    with op.batch_alter_table("consent_records") as table:
        for column in ("review_reason", "reviewed_by", "reviewed_at", "capture_id"):
            table.drop_column(column)
    with op.batch_alter_table("consent_invitations") as table:
        table.drop_column("reported")
        table.drop_column("refused_at")
    with op.batch_alter_table("consent_identities") as table:
        table.drop_index("ix_consent_identities_subject_email_hash")
        table.drop_column("subject_email_hash")
        table.drop_column("subject_email")
