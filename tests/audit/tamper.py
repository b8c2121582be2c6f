"""Direct edits of the log's tables, as an attacker with database access would make them."""

from __future__ import annotations

from lpm_guard.audit import AuditLog
from sqlalchemy import Connection, text


def drop_guards(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        names = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).scalars()
        for name in list(names):
            conn.execute(text(f"DROP TRIGGER {name}"))
    else:
        for table in ("audit_entries", "audit_nodes", "audit_checkpoints", "audit_objects"):
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


def rows(conn: Connection, start: int) -> list[dict[str, object]]:
    result = conn.execute(
        text("SELECT * FROM audit_entries WHERE idx >= :s ORDER BY idx"), {"s": start}
    )
    return [dict(r._mapping) for r in result]


def reinsert(conn: Connection, entries: list[dict[str, object]]) -> None:
    for row in entries:
        conn.execute(
            text(
                "INSERT INTO audit_entries (idx, logged_at, action, actor, outcome, body) "
                "VALUES (:idx, :logged_at, :action, :actor, :outcome, :body)"
            ),
            row,
        )


def rebuild_nodes(log: AuditLog, conn: Connection) -> None:
    """A careful attacker recomputes every stored subtree hash after editing entries."""
    from lpm_guard.audit.merkle import NodeId
    from lpm_guard.audit.storage import _completed_nodes

    conn.execute(text("DELETE FROM audit_nodes"))
    known: dict[NodeId, bytes] = {}
    bodies = conn.execute(text("SELECT idx, body FROM audit_entries ORDER BY idx")).all()
    import hashlib

    for idx, body in bodies:
        for node in _completed_nodes(
            int(idx), hashlib.sha256(b"\x00" + bytes(body)).digest(), known
        ):
            conn.execute(
                text("INSERT INTO audit_nodes (level, idx, hash) VALUES (:level, :idx, :hash)"),
                node,
            )
