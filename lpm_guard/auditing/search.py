"""Finding the entries about one object (a session, a job, an identity, an account).

An entry is *about* an id when the id is its actor or one of its ``objects`` values. The log
indexes object values as it appends (``audit_objects``, migration 0006) and actors in their own
column's index, so a search reads indexes only, whatever the log's size
(``bench/audit_search.py``). Each entry found is parsed and
matched again, so a doctored index row cannot put a foreign entry into a trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..audit import AuditLog, Entry, StoredEntry

MAX_PAGE = 200
# The largest 'before' a search takes: it is recorded in the search's own audit entry, whose
# canonical JSON (RFC 8785) holds integers only up to 2**53 - 1.
MAX_BEFORE = 2**53 - 1


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[StoredEntry]
    next_before: int | None
    """Pass as ``before`` for the next (older) page; None when this page was the last."""


def is_about(entry: Entry, about: str) -> bool:
    return entry.event.actor == about or about in entry.event.objects.values()


def search(
    log: AuditLog,
    *,
    about: str | None = None,
    action: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> Page:
    """Entries about ``about`` and/or with ``action``, newest first, ``limit`` at most."""
    # (1): one more than a page, to know whether another page follows.
    found = log.entries_about(about, action=action, before=before, limit=limit + 1)
    if about is not None:
        # (2): the index only points; the entry itself must name the id.
        found = [stored for stored in found if is_about(stored.entry, about)]
    more = len(found) > limit
    found = found[:limit]
    return Page(found, found[-1].entry.index if more and found else None)
