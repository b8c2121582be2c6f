"""The log's tables and the database guards that make them append-only.

The tables hold: entries (canonical JSON bodies, with a few columns copied out for queries),
the hash of every complete subtree (``audit_nodes``, level 0 being the leaves: these are the
"tiles" that make proofs O(log n) reads), signed checkpoints, and ``audit_objects``, an index
of the ids each entry's ``objects`` name, so that the entries about one session, job or identity
are found without reading every body (an actor is found through ``audit_entries.actor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from .errors import AppendOnlyViolation

_BIG_KEY = BigInteger().with_variant(Integer, "sqlite")
GUARDED_TABLES = ("audit_entries", "audit_nodes", "audit_checkpoints")
# Added later (migration 0006): guarded by their own statements, since migration 0001 installs
# the guards above before these tables exist.
INDEX_TABLES = ("audit_objects",)
MAX_OBJECT_ID = 256
"""Ids longer than this are not indexed (nothing the gate writes comes close)."""
REFUSAL = "lpm-guard audit log is append-only"
GAP_REFUSAL = "lpm-guard audit index must extend the log without a gap"


class AuditEntryRow(SQLModel, table=True):
    __tablename__ = "audit_entries"

    # On SQLite an INTEGER primary key is the rowid itself (64-bit): no second index to keep.
    idx: int = Field(sa_column=Column("idx", _BIG_KEY, primary_key=True, autoincrement=False))
    logged_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
    action: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    actor: str = Field(sa_column=Column(String(256), nullable=False, index=True))
    outcome: str = Field(sa_column=Column(String(32), nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditNodeRow(SQLModel, table=True):
    __tablename__ = "audit_nodes"
    # Clustered on (level, idx): a lookup is one B-tree descent, an insert one B-tree write.
    __table_args__ = {"sqlite_with_rowid": False}

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column("idx", BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class AuditCheckpointRow(SQLModel, table=True):
    __tablename__ = "audit_checkpoints"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    root_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    key_hash: str = Field(sa_column=Column(String(8), nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))


class AuditObjectRow(SQLModel, table=True):
    """Entry ``idx`` names ``object_id`` among its objects. Derived from the entry and written
    in the same transaction; append-only like it."""

    __tablename__ = "audit_objects"
    __table_args__ = {"sqlite_with_rowid": False}

    object_id: str = Field(
        sa_column=Column(String(MAX_OBJECT_ID), primary_key=True, autoincrement=False)
    )
    idx: int = Field(sa_column=Column("idx", BigInteger, primary_key=True, autoincrement=False))


entries_table = AuditEntryRow.__table__  # type: ignore[attr-defined]
nodes_table = AuditNodeRow.__table__  # type: ignore[attr-defined]
checkpoints_table = AuditCheckpointRow.__table__  # type: ignore[attr-defined]
objects_table = AuditObjectRow.__table__  # type: ignore[attr-defined]


def _sqlite_refusals(tables: tuple[str, ...]) -> list[str]:
    statements = []
    for table in tables:
        for op in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_refuse_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )
    return statements


def _sqlite_guards() -> list[str]:
    statements = _sqlite_refusals(GUARDED_TABLES)
    statements.append(
        "CREATE TRIGGER IF NOT EXISTS audit_entries_contiguous BEFORE INSERT ON audit_entries "
        "WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries) "
        f"BEGIN SELECT RAISE(ABORT, '{GAP_REFUSAL}'); END"
    )
    return statements


def _postgresql_refusals(tables: tuple[str, ...]) -> list[str]:
    """Triggers calling ``lpm_audit_refuse()``, which ``_postgresql_guards`` defines."""
    statements = []
    for table in tables:
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_refuse_change ON {table}",
            f"CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION lpm_audit_refuse()",
            f"DROP TRIGGER IF EXISTS {table}_refuse_truncate ON {table}",
            f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION lpm_audit_refuse()",
        ]
    return statements


def _postgresql_guards() -> list[str]:
    statements = [
        "CREATE OR REPLACE FUNCTION lpm_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{REFUSAL} (% on %)', TG_OP, TG_TABLE_NAME "
        "USING ERRCODE = 'insufficient_privilege'; END $$",
        "CREATE OR REPLACE FUNCTION lpm_audit_contiguous() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF NEW.idx IS DISTINCT FROM (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries) "
        f"THEN RAISE EXCEPTION '{GAP_REFUSAL}'; END IF; RETURN NEW; END $$",
    ]
    statements += _postgresql_refusals(GUARDED_TABLES)
    statements += [
        "DROP TRIGGER IF EXISTS audit_entries_contiguous ON audit_entries",
        "CREATE TRIGGER audit_entries_contiguous BEFORE INSERT ON audit_entries "
        "FOR EACH ROW EXECUTE FUNCTION lpm_audit_contiguous()",
    ]
    return statements


def guard_statements(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return _sqlite_guards()
    if dialect == "postgresql":
        return _postgresql_guards()
    raise AppendOnlyViolation(f"no append-only guards for the {dialect} dialect")


def index_guard_statements(dialect: str) -> list[str]:
    """The guards of ``INDEX_TABLES`` (after ``guard_statements``, which PostgreSQL's need)."""
    if dialect == "sqlite":
        return _sqlite_refusals(INDEX_TABLES)
    if dialect == "postgresql":
        return _postgresql_refusals(INDEX_TABLES)
    raise AppendOnlyViolation(f"no append-only guards for the {dialect} dialect")


def create(connection: Connection) -> None:
    """Create the tables (if missing) and install the guards; used by tests and benchmarks."""
    SQLModel.metadata.create_all(
        connection, tables=[entries_table, nodes_table, checkpoints_table, objects_table]
    )
    install_guards(connection)
    install_index_guards(connection)


def install_guards(connection: Connection) -> None:
    for statement in guard_statements(connection.dialect.name):
        connection.execute(text(statement))


def install_index_guards(connection: Connection) -> None:
    for statement in index_guard_statements(connection.dialect.name):
        connection.execute(text(statement))


def named_ids(actor: str, objects: Mapping[str, str]) -> list[str]:
    """The ids ``audit_objects`` indexes for an entry: its object values, each once, none longer
    than the column. The actor is left out: ``audit_entries.actor`` has its own index."""
    ids = dict.fromkeys(str(value) for value in objects.values())
    return [name for name in ids if name and name != actor and len(name) <= MAX_OBJECT_ID]
