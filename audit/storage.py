"""The audit log in a SQL database (SQLite or PostgreSQL): append, prove, checkpoint, verify."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, func, select, text, union
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from . import schema
from .checkpoints import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint
from .entries import Entry, Event, LeafHash, Receipt
from .errors import AppendOnlyViolation, CheckpointError, ProofError, VerificationError
from .merkle import EMPTY_ROOT, NodeId, ProofPlan, leaf_hash, node_hash, range_nodes
from .verify import (
    IndexCheck,
    Report,
    check_checkpoints,
    compare_nodes,
    export_lines,
    recompute,
)

# Any constant works; it names the lock that serialises appends on PostgreSQL.
_PG_APPEND_LOCK = 0x1A7_0A0D17
_STREAM = 20_000
_INSERT_OBJECTS = {
    "qmark": "INSERT INTO audit_objects (object_id, idx) VALUES (?, ?)",
    "format": "INSERT INTO audit_objects (object_id, idx) VALUES (%s, %s)",
    "pyformat": "INSERT INTO audit_objects (object_id, idx) VALUES (%s, %s)",
}

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]
    root_hash: bytes

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "path": [h.hex() for h in self.path],
            "root_hash": self.root_hash.hex(),
        }


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    path: list[bytes]

    def to_json(self) -> dict[str, object]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": self.old_root.hex(),
            "new_root": self.new_root.hex(),
            "path": [h.hex() for h in self.path],
        }


@dataclass(frozen=True, slots=True)
class StoredEntry:
    entry: Entry
    body: bytes
    leaf_hash: bytes


class AuditLog:
    """An append-only Merkle log over a SQLAlchemy engine.

    Appends are serialised (SQLite ``BEGIN IMMEDIATE``; a transaction-scoped advisory lock on
    PostgreSQL) and written in one transaction with the subtree hashes they complete, so a
    crash leaves either the whole append or nothing. ``witness`` is a file outside the database
    that keeps the latest checkpoint, so a truncated database cannot pass as a short log.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        signer: NoteSigner | None = None,
        verifiers: Sequence[NoteVerifier] = (),
        witness: Path | None = None,
        checkpoint_interval: float = 10.0,
        clock: Clock = _now,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.verifiers = list(verifiers) or ([signer.verifier] if signer else [])
        self.witness = witness
        self.checkpoint_interval = checkpoint_interval
        self._clock = clock

    # --- appending ----------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.exec_driver_sql("COMMIT")
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
        else:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_APPEND_LOCK})")
                yield conn

    def append(self, event: Event) -> Receipt:
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[Event]) -> list[Receipt]:
        """Append events in one durable transaction; receipts come back in the same order."""
        if not events:
            return []
        with self._translate(), self._locked() as conn:
            size = self._size(conn)
            frontier = self._fetch(conn, range_nodes(0, size))
            moment = self._clock()
            entry_rows, node_rows, receipts = [], [], []
            object_rows: list[tuple[str, int]] = []
            for offset, event in enumerate(events):
                index = size + offset
                entry = Entry(index=index, timestamp=moment, event=event)
                body = entry.canonical()
                digest = leaf_hash(body)
                entry_rows.append(
                    {
                        "idx": index,
                        "logged_at": moment,
                        "action": event.action,
                        "actor": event.actor,
                        "outcome": event.outcome,
                        "body": body,
                    }
                )
                node_rows.extend(_completed_nodes(index, digest, frontier))
                object_rows.extend(
                    (name, index) for name in schema.named_ids(event.actor, event.objects)
                )
                receipts.append(Receipt(index, LeafHash(digest), index + 1))
            conn.execute(schema.entries_table.insert(), entry_rows)
            conn.execute(schema.nodes_table.insert(), node_rows)
            if object_rows:
                # Straight to the driver: these small rows are as many as the entries, and
                # building SQLAlchemy parameters for each would cost more than inserting them.
                conn.exec_driver_sql(_INSERT_OBJECTS[conn.dialect.paramstyle], object_rows)
        return receipts

    # --- reading ------------------------------------------------------------------------

    def size(self) -> int:
        with self.engine.connect() as conn:
            return self._size(conn)

    @staticmethod
    def _size(conn: Connection) -> int:
        top = conn.execute(select(func.max(schema.entries_table.c.idx))).scalar()
        return 0 if top is None else int(top) + 1

    @staticmethod
    def _fetch(conn: Connection, nodes: Iterable[NodeId]) -> dict[NodeId, bytes]:
        wanted = list(set(nodes))
        if not wanted:
            return {}
        # An OR of primary-key lookups: SQLite scans the whole table for a row-value IN (250 ms
        # at 1M entries against 0.3 ms), and plain SQL text costs a tenth of building the
        # same expression with SQLAlchemy's operators on this hot path.
        keys = " OR ".join(f"(level = :l{n} AND idx = :i{n})" for n in range(len(wanted)))
        params: dict[str, int] = {}
        for n, (level, position) in enumerate(wanted):
            params[f"l{n}"], params[f"i{n}"] = level, position
        query = f"SELECT level, idx, hash FROM audit_nodes WHERE {keys}"  # noqa: S608 (binds only)
        rows = conn.execute(text(query), params)
        return {NodeId(level, idx): bytes(digest) for level, idx, digest in rows}

    def entry(self, index: int) -> StoredEntry:
        with self.engine.connect() as conn:
            body = conn.execute(
                select(schema.entries_table.c.body).where(schema.entries_table.c.idx == index)
            ).scalar()
        if body is None:
            raise ProofError(f"no entry {index}")
        return _stored(_as_bytes(body))

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        for _, body in self._bodies(start, stop):
            yield _stored(body)

    def _bodies(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        t = schema.entries_table
        query = select(t.c.idx, t.c.body).where(t.c.idx >= start).order_by(t.c.idx)
        if stop is not None:
            query = query.where(t.c.idx < stop)
        with self.engine.connect() as conn:
            for idx, body in conn.execution_options(yield_per=_STREAM).execute(query):
                yield int(idx), _as_bytes(body)

    def entries_about(
        self,
        name: str | None,
        *,
        action: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[StoredEntry]:
        """Up to ``limit`` entries naming ``name`` (as actor or object; None: any entry),
        newest first, below index ``before``; optionally only those with ``action``. Index
        reads only: the objects index and the actor column's, the action column's."""
        t = schema.entries_table
        query = select(t.c.body).order_by(t.c.idx.desc()).limit(limit)
        if before is not None:
            query = query.where(t.c.idx < before)
        if action is not None:
            query = query.where(t.c.action == action)
        if name is not None:
            o = schema.objects_table
            named = select(o.c.idx.label("idx")).where(o.c.object_id == name)
            acted = select(t.c.idx.label("idx")).where(t.c.actor == name)
            if before is not None:
                named, acted = named.where(o.c.idx < before), acted.where(t.c.idx < before)
            about = union(named, acted).subquery()
            query = query.where(t.c.idx.in_(select(about.c.idx)))
        with self.engine.connect() as conn:
            return [_stored(_as_bytes(body)) for body in conn.execute(query).scalars()]

    def indices(self, action: str) -> list[int]:
        """The index of every entry with ``action``, oldest first (the action column's index
        only; no body is read, so a caller that relies on an entry reads it and checks it)."""
        t = schema.entries_table
        query = select(t.c.idx).where(t.c.action == action).order_by(t.c.idx)
        with self.engine.connect() as conn:
            return [int(idx) for idx in conn.execute(query).scalars()]

    def root(self, size: int | None = None) -> bytes:
        with self.engine.connect() as conn:
            return self._root(conn, self._size(conn) if size is None else size)

    def _root(self, conn: Connection, size: int) -> bytes:
        plan = ProofPlan.root(size)
        return plan.assemble(self._fetch(conn, plan.nodes))[0] if size else EMPTY_ROOT

    # --- proofs ---------------------------------------------------------------------------

    def _tree_size(self, conn: Connection, requested: int | None) -> int:
        current = self._size(conn)
        if requested is not None and requested > current:
            raise ProofError(f"tree size {requested} is larger than the log ({current})")
        return current if requested is None else requested

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> InclusionProof:
        with self.engine.connect() as conn:
            size = self._tree_size(conn, tree_size)
            plan = ProofPlan.inclusion(index, size)
            root_plan = ProofPlan.root(size)
            hashes = self._fetch(conn, plan.nodes | root_plan.nodes | {NodeId(0, index)})
        return InclusionProof(
            index,
            size,
            hashes[NodeId(0, index)],
            plan.assemble(hashes),
            root_plan.assemble(hashes)[0],
        )

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        with self.engine.connect() as conn:
            size = self._tree_size(conn, new_size)
            plan = ProofPlan.consistency(old_size, size)
            old_plan, new_plan = ProofPlan.root(old_size), ProofPlan.root(size)
            hashes = self._fetch(conn, plan.nodes | old_plan.nodes | new_plan.nodes)
        return ConsistencyProof(
            old_size,
            size,
            old_plan.assemble(hashes)[0],
            new_plan.assemble(hashes)[0],
            plan.assemble(hashes),
        )

    # --- checkpoints ----------------------------------------------------------------------

    def latest_checkpoint(self) -> Checkpoint | None:
        t = schema.checkpoints_table
        with self.engine.connect() as conn:
            note = conn.execute(select(t.c.note).order_by(t.c.id.desc()).limit(1)).scalar()
        return None if note is None else open_checkpoint(note, self.verifiers)

    def checkpoint_notes(self) -> list[str]:
        t = schema.checkpoints_table
        with self.engine.connect() as conn:
            return [str(n) for n in conn.execute(select(t.c.note).order_by(t.c.id)).scalars()]

    def checkpoint(self, *, force: bool = False) -> Checkpoint:
        """The latest signed checkpoint, signing a new one if the log has grown and the last is
        older than ``checkpoint_interval`` (or at once with ``force``)."""
        if self.signer is None:
            raise CheckpointError("this log has no signing key")
        latest = self.latest_checkpoint()
        if latest is not None and not force:
            age = (self._clock() - latest.timestamp).total_seconds()
            if age < self.checkpoint_interval:
                return latest
        with self._translate(), self._locked() as conn:
            size = self._size(conn)
            if (
                latest is not None
                and latest.tree_size == size
                and latest.key_hash == self.signer.verifier.key_hash
            ):
                return latest
            checkpoint = sign_checkpoint(self.signer, size, self._root(conn, size), self._clock())
            conn.execute(
                schema.checkpoints_table.insert(),
                {
                    "tree_size": size,
                    "root_hash": checkpoint.root_hash,
                    "created_at": checkpoint.timestamp,
                    "key_hash": checkpoint.key_hash.hex(),
                    "note": checkpoint.note,
                },
            )
        self._write_witness(checkpoint)
        return checkpoint

    def _write_witness(self, checkpoint: Checkpoint) -> None:
        if self.witness is None:
            return
        self.witness.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.witness.parent, prefix=".checkpoint-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(checkpoint.note)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.witness)

    # --- export and verification ------------------------------------------------------------

    def export(self, out: IO[str], origin: str | None = None) -> int:
        size = self.size()
        name = origin or (self.signer.name if self.signer else "")
        for line in export_lines(name, size, self._bodies(0, size), self.checkpoint_notes()):
            out.write(line)
        return size

    def verify(self) -> Report:
        """Recompute every leaf and subtree, check every checkpoint and the witness, and that the
        search index names exactly what each entry names.

        Returns the report when the log is sound; raises VerificationError naming the first bad
        index otherwise. An unreadable database raises too: it never passes.
        """
        report = Report()
        try:
            # (1): entries in index order, each naming its own index and matching its columns;
            # (5) as they pass: the search index names exactly what each entry names.
            index = IndexCheck(self._index_rows(), report)

            def named(idx: int, data: dict[str, Any]) -> None:
                index.entry(idx, schema.named_ids(data["actor"], data["objects"]))

            tree = recompute(self._rows_with_columns(), report, named)
            index.finish()
            # (2): the stored subtree hashes (proofs are built from them) match the entries.
            compare_nodes(tree, self._stored_nodes(), report)
            # (3): every checkpoint is signed by a trusted key over the recomputed root, and so
            # is (4) the latest one, kept outside the database, which no truncation can remove.
            notes = [
                (f"checkpoint #{n}", note) for n, note in enumerate(self.checkpoint_notes(), 1)
            ]
            if self.witness is not None and self.witness.exists():
                notes.append(("the witnessed checkpoint", self.witness.read_text(encoding="utf-8")))
            check_checkpoints(tree, notes, self.verifiers, report)
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise VerificationError(f"the log's database cannot be read: {cause}", None) from exc
        report.raise_for_problems()
        return report

    def _rows_with_columns(self) -> Iterator[tuple[int, bytes, dict[str, str]]]:
        t = schema.entries_table
        query = select(t.c.idx, t.c.action, t.c.actor, t.c.outcome, t.c.body).order_by(t.c.idx)
        with self.engine.connect() as conn:
            for idx, action, actor, outcome, body in conn.execution_options(
                yield_per=_STREAM
            ).execute(query):
                yield (
                    int(idx),
                    _as_bytes(body),
                    {"action": action, "actor": actor, "outcome": outcome},
                )

    def _index_rows(self) -> Iterator[tuple[int, str]]:
        t = schema.objects_table
        query = select(t.c.idx, t.c.object_id).order_by(t.c.idx, t.c.object_id)
        with self.engine.connect() as conn:
            for idx, object_id in conn.execution_options(yield_per=_STREAM).execute(query):
                yield int(idx), str(object_id)

    def _stored_nodes(self) -> Iterator[tuple[int, int, bytes]]:
        t = schema.nodes_table
        query = select(t.c.level, t.c.idx, t.c.hash).order_by(t.c.level, t.c.idx)
        with self.engine.connect() as conn:
            for level, idx, digest in conn.execution_options(yield_per=_STREAM).execute(query):
                yield int(level), int(idx), bytes(digest)

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            if schema.REFUSAL in str(exc) or schema.GAP_REFUSAL in str(exc):
                raise AppendOnlyViolation(str(exc.orig)) from exc
            raise


def _stored(body: bytes) -> StoredEntry:
    return StoredEntry(Entry.from_canonical(body), body, leaf_hash(body))


def _as_bytes(body: bytes | str) -> bytes:
    """We only ever write bytes; a hand edit of the database may have left text behind."""
    return body.encode() if isinstance(body, str) else bytes(body)


def _completed_nodes(
    index: int, digest: bytes, known: dict[NodeId, bytes]
) -> list[dict[str, object]]:
    """The leaf node and every subtree that appending leaf ``index`` completes."""
    rows = [{"level": 0, "idx": index, "hash": digest}]
    known[NodeId(0, index)] = digest
    level, position, current = 0, index, digest
    while position & 1:
        left = known[NodeId(level, position - 1)]
        current = node_hash(left, current)
        level, position = level + 1, position >> 1
        known[NodeId(level, position)] = current
        rows.append({"level": level, "idx": position, "hash": current})
    return rows
