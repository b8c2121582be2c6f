"""Consent: identities, reference photos, invitations, consent records, protected identities.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(40), primary_key=True)


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _parent(name: str, table: str) -> sa.Column[str]:
    return sa.Column(
        name, sa.String(40), sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "consent_identities",
        _id(),
        sa.Column("owner", sa.String(256), nullable=False, index=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False, index=True),
        sa.Column("origin", sa.String(32), nullable=True),
        sa.Column("attestation", sa.Text, nullable=True),
        sa.Column("allowed_uses", sa.String(64), nullable=False),
        sa.Column("excluded_content", sa.Text, nullable=False),
        _when("expires_at", nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.Column("reviewed_by", sa.String(256), nullable=True),
        sa.Column("review_reason", sa.Text, nullable=True),
    )
    op.create_table(
        "consent_reference_photos",
        _id(),
        _parent("identity_id", "consent_identities"),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("encoder", sa.String(64), nullable=False),
        sa.Column("photo", sa.LargeBinary, nullable=False),
        sa.Column("descriptor", sa.LargeBinary, nullable=False),
        _when("created_at"),
    )
    op.create_index(
        "ix_consent_reference_photos_identity_id", "consent_reference_photos", ["identity_id"]
    )
    op.create_table(
        "consent_invitations",
        _id(),
        _parent("identity_id", "consent_identities"),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("challenge_phrase", sa.String(200), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("allowed_uses", sa.String(64), nullable=False),
        sa.Column("excluded_content", sa.Text, nullable=False),
        _when("consent_expires_at"),
        _when("link_expires_at"),
        _when("created_at"),
        _when("used_at", nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
    )
    op.create_index("ix_consent_invitations_identity_id", "consent_invitations", ["identity_id"])
    op.create_table(
        "consent_records",
        _id(),
        _parent("identity_id", "consent_identities"),
        sa.Column("invitation_id", sa.String(40), nullable=False),
        sa.Column("statement_sha256", sa.String(64), nullable=False),
        sa.Column("evidence_sha256", sa.Text, nullable=False),
        sa.Column("evidence", sa.LargeBinary, nullable=True),
        sa.Column("transcript", sa.Text, nullable=True),
        sa.Column("revocation_token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("allowed_uses", sa.String(64), nullable=False),
        _when("accepted_at"),
        _when("expires_at"),
        _when("revoked_at", nullable=True),
        sa.Column("revoked_by", sa.String(256), nullable=True),
    )
    op.create_index("ix_consent_records_identity_id", "consent_records", ["identity_id"])
    op.create_table(
        "consent_protected_identities",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "consent_protected_faces",
        _id(),
        _parent("protected_id", "consent_protected_identities"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("encoder", sa.String(64), nullable=False),
        sa.Column("photo", sa.LargeBinary, nullable=False),
        sa.Column("descriptor", sa.LargeBinary, nullable=False),
        _when("created_at"),
    )
    op.create_index(
        "ix_consent_protected_faces_protected_id", "consent_protected_faces", ["protected_id"]
    )


def downgrade() -> None:
    for table in (
        "consent_protected_faces",
        "consent_protected_identities",
        "consent_records",
        "consent_invitations",
        "consent_reference_photos",
        "consent_identities",
    ):
        op.drop_table(table)
