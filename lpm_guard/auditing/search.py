"""Finding the entries about one object (a session, a job, an identity, an account).

An entry is *about* an id when the id is its actor or one of its ``objects`` values. The log
stores canonical JSON bodies; the database narrows the candidates with a substring match on
the body (newest first, one page at a time), and each candidate is then parsed and matched
exactly. A scan, not an index: see ``bench/audit_search.py`` for what it costs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, LargeBinary, TextClause, bindparam, func, select, text

from ..audit import Entry, StoredEntry, leaf_hash
from ..audit.schema import entries_table

MAX_PAGE = 200
_BATCH = 500


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[StoredEntry]
    next_before: int | None
    """Pass as ``before`` for the next (older) page; None when this page was the last."""


def is_about(entry: Entry, about: str) -> bool:
    return entry.event.actor == about or about in entry.event.objects.values()


def _contains(engine: Engine, needle: bytes) -> ColumnElement[bool] | TextClause:
    """The body holds ``needle`` (bytes, no pattern characters to escape)."""
    if engine.dialect.name == "postgresql":
        return text("position(:needle IN audit_entries.body) > 0").bindparams(
            bindparam("needle", needle, type_=LargeBinary)
        )
    return func.instr(entries_table.c.body, needle) > 0


def _candidates(
    engine: Engine, about: str | None, action: str | None, before: int | None
) -> Iterator[tuple[int, bytes]]:
    t = entries_table
    query = select(t.c.idx, t.c.body).order_by(t.c.idx.desc())
    if before is not None:
        query = query.where(t.c.idx < before)
    if action is not None:
        query = query.where(t.c.action == action)
    if about is not None:
        # The id as it appears in canonical JSON: a quoted string (RFC 8785 escapes as json).
        needle = json.dumps(about, ensure_ascii=False).encode()
        query = query.where(_contains(engine, needle))
    with engine.connect() as conn:
        for idx, body in conn.execution_options(yield_per=_BATCH).execute(query):
            yield int(idx), body.encode() if isinstance(body, str) else bytes(body)


def search(
    engine: Engine,
    *,
    about: str | None = None,
    action: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> Page:
    """Entries about ``about`` (and/or with ``action``), newest first, ``limit`` at most."""
    found: list[StoredEntry] = []
    more = False
    for _, body in _candidates(engine, about, action, before):
        entry = Entry.from_canonical(body)
        if about is not None and not is_about(entry, about):
            continue
        if len(found) == limit:
            more = True
            break
        found.append(StoredEntry(entry, body, leaf_hash(body)))
    return Page(found, found[-1].entry.index if more and found else None)
