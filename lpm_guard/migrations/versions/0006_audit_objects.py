"""The audit log's index of the ids each entry names, for reviewers' searches; filled from the
entries already logged.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 5_000


def upgrade() -> None:
    from lpm_guard.audit import Entry
    from lpm_guard.audit.schema import install_index_guards, named_ids

    objects = op.create_table(
        "audit_objects",
        sa.Column("object_id", sa.String(256), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    # (1): index what is already logged, in batches (the bodies are canonical JSON).
    bind = op.get_bind()
    entries = sa.table("audit_entries", sa.column("idx"), sa.column("body"))
    last = -1
    while True:
        rows = bind.execute(
            sa.select(entries.c.idx, entries.c.body)
            .where(entries.c.idx > last)
            .order_by(entries.c.idx)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        index_rows = []
        for idx, body in rows:
            event = Entry.from_canonical(body.encode() if isinstance(body, str) else bytes(body))
            index_rows += [
                {"object_id": name, "idx": idx}
                for name in named_ids(event.event.actor, event.event.objects)
            ]
        if index_rows:
            op.bulk_insert(objects, index_rows)
        last = rows[-1][0]
    # (2): then make it append-only, like the log.
    install_index_guards(bind)


def downgrade() -> None:
    op.drop_table("audit_objects")  # its guards go with it
