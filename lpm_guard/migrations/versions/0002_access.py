"""Access: accounts, researcher applications, OAuth2 clients, codes, tokens, login attempts, quota.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False, index: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def upgrade() -> None:
    op.create_table(
        "access_accounts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False, index=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        _when("created_at"),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("password_must_change", sa.Boolean, nullable=False),
    )
    op.create_table(
        "access_applications",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "account_id",
            sa.String(40),
            sa.ForeignKey("access_accounts.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("institution", sa.String(300), nullable=False),
        sa.Column("position", sa.String(200), nullable=False),
        sa.Column("research_purpose", sa.Text, nullable=False),
        sa.Column("ethics_reference", sa.String(200), nullable=False),
        sa.Column("intended_uses", sa.String(40), nullable=False),
        sa.Column("terms_version", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        _when("submitted_at"),
        _when("decided_at", nullable=True),
        sa.Column("decided_by", sa.String(256), nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
        _when("expires_at", nullable=True),
        sa.Column("daily_quota_s", sa.Float, nullable=True),
    )
    op.create_table(
        "access_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column(
            "owner_id",
            sa.String(40),
            sa.ForeignKey("access_accounts.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        _when("created_at"),
        _when("revoked_at", nullable=True),
    )
    op.create_table(
        "access_authorization_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("access_accounts.id"), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("code_challenge_method", sa.String(8), nullable=False),
        _when("created_at"),
        _when("expires_at"),
        _when("used_at", nullable=True),
    )
    op.create_table(
        "access_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("family", sa.String(64), nullable=False, index=True),
        sa.Column("client_id", sa.String(64), nullable=False, index=True),
        sa.Column(
            "account_id",
            sa.String(40),
            sa.ForeignKey("access_accounts.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("grant_type", sa.String(40), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        _when("issued_at"),
        _when("expires_at"),
        sa.Column("refresh_hash", sa.String(64), nullable=True, unique=True),
        _when("refresh_expires_at", nullable=True),
        sa.Column("access_revoked", sa.Boolean, nullable=False),
        sa.Column("refresh_revoked", sa.Boolean, nullable=False),
    )
    op.create_table(
        "access_login_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_key", sa.String(320), nullable=False, index=True),
        sa.Column("address", sa.String(64), nullable=False, index=True),
        _when("attempted_at", index=True),
        sa.Column("succeeded", sa.Boolean, nullable=False),
    )
    op.create_table(
        "access_quota_usage",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("access_accounts.id"), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.UniqueConstraint("account_id", "day"),
    )


def downgrade() -> None:
    for table in (
        "access_quota_usage",
        "access_login_attempts",
        "access_tokens",
        "access_authorization_codes",
        "access_clients",
        "access_applications",
        "access_accounts",
    ):
        op.drop_table(table)
