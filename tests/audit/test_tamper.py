"""Each tamper class, made by editing the database: ``verify`` names the first bad index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lpm_guard.audit import AuditLog, Event, NoteSigner, VerificationError
from sqlalchemy import text

from .tamper import drop_guards, rebuild_nodes, reinsert, rows

SIZE = 20


@pytest.fixture
def sealed(log: AuditLog) -> AuditLog:
    log.append_many([Event("test:thing:do", f"user:{i}", payload={"n": i}) for i in range(SIZE)])
    log.checkpoint(force=True)
    assert log.verify().checkpoints_verified == 1
    with log.engine.begin() as conn:
        drop_guards(conn)
    return log


def first_bad_index(log: AuditLog) -> int | None:
    with pytest.raises(VerificationError) as caught:
        log.verify()
    return caught.value.first_bad_index


def test_changed_payload(sealed: AuditLog) -> None:
    with sealed.engine.begin() as conn:
        body = json.loads(
            conn.execute(text("SELECT body FROM audit_entries WHERE idx = 7")).scalar()
        )
        body["payload"]["n"] = 700
        conn.execute(
            text("UPDATE audit_entries SET body = :b WHERE idx = 7"), {"b": rfc8785.dumps(body)}
        )
    assert first_bad_index(sealed) == 7


def test_deleted_entry(sealed: AuditLog) -> None:
    with sealed.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE idx = 7"))
    assert first_bad_index(sealed) == 7


def test_inserted_entry(sealed: AuditLog) -> None:
    with sealed.engine.begin() as conn:
        later = rows(conn, 7)
        conn.execute(text("DELETE FROM audit_entries WHERE idx >= 7"))
        forged = dict(later[0], body=later[0]["body"].replace(b'"user:7"', b'"user:evil"'))  # type: ignore[union-attr]
        shifted = [dict(r, idx=int(r["idx"]) + 1) for r in later]  # type: ignore[call-overload]
        reinsert(conn, [forged, *shifted])
    assert first_bad_index(sealed) == 7


def test_two_entries_swapped(sealed: AuditLog) -> None:
    with sealed.engine.begin() as conn:
        a, b = rows(conn, 3)[0], rows(conn, 12)[0]
        conn.execute(text("DELETE FROM audit_entries WHERE idx IN (3, 12)"))
        reinsert(conn, [dict(b, idx=3), dict(a, idx=12)])
    assert first_bad_index(sealed) == 3


def test_truncated_and_resigned_with_another_key(sealed: AuditLog) -> None:
    with sealed.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE idx >= 12"))
        conn.execute(text("DELETE FROM audit_checkpoints"))
        rebuild_nodes(sealed, conn)
    impostor = AuditLog(
        sealed.engine,
        signer=NoteSigner(
            sealed.signer.name,  # type: ignore[union-attr]
            Ed25519PrivateKey.generate(),
        ),
    )
    impostor.checkpoint(force=True)
    assert impostor.verify().tree_size == 12  # it passes under the impostor's own key...
    with pytest.raises(VerificationError) as caught:  # ...but not under ours
        sealed.verify()
    assert caught.value.first_bad_index == 12
    assert "truncated" in str(caught.value)


def test_truncation_fails_even_without_the_witness(sealed: AuditLog) -> None:
    assert sealed.witness is not None
    sealed.witness.unlink()
    with sealed.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE idx >= 12"))
        rebuild_nodes(sealed, conn)
    assert first_bad_index(sealed) == 12  # the stored checkpoint covers 20 entries


def test_careful_attacker_who_rehashes_the_tree_is_caught_by_checkpoints(sealed: AuditLog) -> None:
    # A second checkpoint at 30; then entry 25 is edited and every stored hash rebuilt.
    sealed.append_many([Event("test:thing:do", "user:x", payload={"n": i}) for i in range(10)])
    sealed.checkpoint(force=True)
    with sealed.engine.begin() as conn:
        body = json.loads(
            conn.execute(text("SELECT body FROM audit_entries WHERE idx = 25")).scalar()
        )
        body["outcome"] = "deny"
        conn.execute(
            text("UPDATE audit_entries SET body = :b, outcome = 'deny' WHERE idx = 25"),
            {"b": rfc8785.dumps(body)},
        )
        rebuild_nodes(sealed, conn)
    with pytest.raises(VerificationError) as caught:
        sealed.verify()
    # The entries and stored hashes now agree; only the signed checkpoints catch it, and they
    # narrow it to the entries after the last checkpoint that still holds (size 20).
    assert caught.value.first_bad_index == SIZE
    assert "signed checkpoint of size 30" in str(caught.value)


def test_witness_is_not_required_for_a_sound_log(log: AuditLog, tmp_path: Path) -> None:
    log.append(Event("a:b:c", "user:1"))
    log.checkpoint(force=True)
    assert log.witness is not None
    log.witness.unlink()
    assert log.verify().tree_size == 1


def test_search_index_rows_removed_or_added(log: AuditLog) -> None:
    """The leaves do not cover ``audit_objects``: verify compares it with the entries, so an
    entry hidden from search (a row deleted) or shown under an id it does not name (a row
    added) is found, with the entry's index."""
    log.append_many(
        [Event("test:thing:do", "system", objects={"session": f"ses_{i}"}) for i in range(6)]
    )
    log.verify()
    with log.engine.begin() as conn:
        drop_guards(conn)
        conn.execute(text("DELETE FROM audit_objects WHERE idx = 3"))
    with pytest.raises(VerificationError, match="names 'ses_3' but the search index omits"):
        log.verify()
    with log.engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_objects (object_id, idx) VALUES ('ses_3', 3)"))
        conn.execute(text("INSERT INTO audit_objects (object_id, idx) VALUES ('ses_evil', 4)"))
    assert first_bad_index(log) == 4
    with log.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_objects WHERE object_id = 'ses_evil'"))
        conn.execute(text("INSERT INTO audit_objects (object_id, idx) VALUES ('ses_9', 99)"))
    with pytest.raises(VerificationError, match="for a missing entry"):
        log.verify()
