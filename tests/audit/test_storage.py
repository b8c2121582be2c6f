"""The log in SQLite and PostgreSQL: appends, receipts, proofs, checkpoints, the guards."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from lpm_guard.audit import (
    AppendOnlyViolation,
    AuditLog,
    Entry,
    Event,
    ProofError,
    leaf_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from lpm_guard.audit.merkle import tree_root
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError


def event(n: int) -> Event:
    return Event(
        action="test:thing:do",
        actor=f"user:{n % 7}",
        objects={"thing": str(n)},
        payload={"n": n, "note": "ünïcödé ✓"},
    )


def test_append_returns_a_receipt_that_matches_the_entry(log: AuditLog) -> None:
    receipt = log.append(event(0))
    assert (receipt.index, receipt.tree_size) == (0, 1)
    stored = log.entry(0)
    assert stored.leaf_hash == receipt.leaf_hash == leaf_hash(stored.body)
    assert stored.entry.event.payload["note"] == "ünïcödé ✓"
    assert Entry.from_canonical(stored.body).canonical() == stored.body
    assert receipt.to_json()["leaf_hash"] == receipt.leaf_hash.hex()


def test_batched_appends_give_contiguous_receipts(log: AuditLog) -> None:
    log.append(event(0))
    receipts = log.append_many([event(i) for i in range(1, 40)])
    assert [r.index for r in receipts] == list(range(1, 40))
    assert [r.tree_size for r in receipts] == list(range(2, 41))
    assert log.size() == 40


def test_proofs_from_storage_match_an_in_memory_tree(log: AuditLog) -> None:
    for start in range(0, 37, 5):
        log.append_many([event(i) for i in range(start, min(start + 5, 37))])
    leaves = [s.leaf_hash for s in log.entries()]
    assert len(leaves) == 37
    for size in (1, 2, 3, 8, 13, 16, 37):
        assert log.root(size) == tree_root(leaves[:size])
        for index in {0, size // 2, size - 1}:
            proof = log.inclusion_proof(index, size)
            verify_inclusion(proof.leaf_hash, index, size, proof.path, tree_root(leaves[:size]))
        for old in {1, size // 2 or 1, size}:
            c = log.consistency_proof(old, size)
            verify_consistency(old, size, tree_root(leaves[:old]), tree_root(leaves[:size]), c.path)


@pytest.mark.parametrize(("index", "size"), [(5, 5), (-1, 3), (0, 0), (2, 99)])
def test_malformed_proof_requests_raise(log: AuditLog, index: int, size: int) -> None:
    log.append_many([event(i) for i in range(5)])
    with pytest.raises(ProofError):
        log.inclusion_proof(index, size)


def test_consistency_beyond_the_log_raises(log: AuditLog) -> None:
    log.append_many([event(i) for i in range(3)])
    with pytest.raises(ProofError):
        log.consistency_proof(2, 4)
    with pytest.raises(ProofError):
        log.consistency_proof(0, 3)


def test_checkpoints_are_signed_and_rate_limited(engine: Engine, signer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    clock = [datetime(2026, 1, 1, tzinfo=UTC)]
    log = AuditLog(
        engine,
        signer=signer,
        witness=tmp_path / "w",
        checkpoint_interval=10,
        clock=lambda: clock[0],
    )
    log.append(event(0))
    first = log.checkpoint()
    log.append(event(1))
    assert log.checkpoint() == first  # not yet due
    assert log.checkpoint(force=True).tree_size == 2  # on demand
    log.append(event(2))
    clock[0] = clock[0].replace(second=11)
    latest = log.checkpoint()
    assert latest.tree_size == 3 and latest.root_hash == log.root(3)
    assert open_checkpoint((tmp_path / "w").read_text(), [signer.verifier]) == latest
    assert len(log.checkpoint_notes()) == 3


@pytest.mark.parametrize("table", ["audit_entries", "audit_nodes", "audit_checkpoints"])
def test_the_database_refuses_update_and_delete(log: AuditLog, table: str) -> None:
    log.append_many([event(i) for i in range(3)])
    log.checkpoint(force=True)
    column = {
        "audit_entries": "actor = 'x'",
        "audit_nodes": "level = level",
        "audit_checkpoints": "note = 'x'",
    }[table]
    for statement in (f"UPDATE {table} SET {column}", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as conn:
            conn.execute(text(statement))
    if log.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table} CASCADE"))
    assert log.size() == 3
    log.verify()


def test_the_database_refuses_a_gap_or_a_rewrite_of_an_index(log: AuditLog) -> None:
    log.append_many([event(i) for i in range(3)])
    for idx in (5, 1):
        with pytest.raises(DBAPIError, match="gap"), log.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit_entries (idx, logged_at, action, actor, outcome, "
                    "body) VALUES (:i, CURRENT_TIMESTAMP, 'a', 'b', 'c', :b)"
                ),
                {"i": idx, "b": b"{}"},
            )


def test_concurrent_writers_leave_no_gap(log: AuditLog) -> None:
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(15):
                if i % 3:
                    log.append(event(k * 100 + i))
                else:
                    log.append_many([event(k * 100 + i), event(k * 100 + i + 50)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert log.size() == 6 * 20
    assert [s.entry.index for s in log.entries()] == list(range(120))
    log.checkpoint(force=True)
    assert log.verify().tree_size == 120


def test_append_only_violation_is_translated(
    log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.append(event(0))
    # Force a stale size so the insert collides with the gap guard.
    monkeypatch.setattr(AuditLog, "_size", staticmethod(lambda conn: 2))
    with pytest.raises(AppendOnlyViolation):
        log.append(event(1))


def test_events_need_an_action_and_an_actor() -> None:
    with pytest.raises(ValueError):
        Event(action="", actor="x")
    with pytest.raises(ValueError):
        Entry(0, datetime(2026, 1, 1), Event("a", "b")).canonical()  # naive timestamp
