"""``audit_objects``: the index of the ids each entry names, written with the entry, read by
``AuditLog.entries_about``, and as append-only as the log (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from lpm_guard.audit import AuditLog, Event
from lpm_guard.audit.schema import MAX_OBJECT_ID
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError


def _event(n: int) -> Event:
    return Event(
        action="session:stream:open" if n % 2 else "session:stream:stop",
        actor=f"acct_{n % 3}",
        objects={"session": f"ses_{n % 4}", "identity": "idn_a", "same": f"acct_{n % 3}"},
    )


def test_entries_about_an_id_come_newest_first_in_pages(log: AuditLog) -> None:
    log.append_many([_event(n) for n in range(20)])
    log.append(Event("x:y:z", "system", objects={"session": "ses_10"}))
    about = log.entries_about("ses_1")
    assert [s.entry.index for s in about] == [17, 13, 9, 5, 1]
    assert all("ses_1" in s.entry.event.objects.values() for s in about)
    # The actor counts, and an id named twice by one entry is found once.
    assert [s.entry.index for s in log.entries_about("acct_2")] == [17, 14, 11, 8, 5, 2]
    assert [s.entry.index for s in log.entries_about("idn_a", before=5, limit=3)] == [4, 3, 2]
    stops = log.entries_about("ses_1", action="session:stream:stop")
    assert [s.entry.index for s in stops] == []
    opens = log.entries_about("ses_1", action="session:stream:open")
    assert [s.entry.index for s in opens] == [17, 13, 9, 5, 1]
    assert log.entries_about("ses_nobody") == []
    assert log.entries_about("system")[0].body == log.entry(20).body


def test_an_id_longer_than_the_column_is_not_indexed(log: AuditLog) -> None:
    long_id = "x" * (MAX_OBJECT_ID + 1)
    log.append(Event("a:b:c", "system", objects={"blob": long_id, "session": "ses_ok"}))
    assert log.entries_about(long_id) == []
    assert len(log.entries_about("ses_ok")) == 1


def test_the_database_refuses_to_change_the_index(log: AuditLog) -> None:
    log.append_many([_event(n) for n in range(3)])
    for statement in (
        "UPDATE audit_objects SET object_id = 'forged'",
        "DELETE FROM audit_objects",
    ):
        with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as conn:
            conn.execute(text(statement))
    if log.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_objects"))
    assert len(log.entries_about("idn_a")) == 3
