"""Recompute a log from its entries and check it against stored hashes and signed checkpoints.

Used by ``AuditLog.verify`` on the database and, standalone, on an exported log with nothing
but the log's public key::

    python -m lpm_guard.audit.verify export.jsonl --vkey 'origin+hash+key'
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoints import Checkpoint, NoteVerifier, open_checkpoint
from .errors import CheckpointError, VerificationError
from .merkle import EMPTY_ROOT, fold, range_nodes

EXPORT_FORMAT = "lpm-guard-audit-export/1"
_H = 32


@dataclass(slots=True)
class Problem:
    index: int | None
    message: str
    precise: bool = True


@dataclass(slots=True)
class Report:
    """What a verification found; ``raise_for_problems`` turns it into a VerificationError."""

    tree_size: int = 0
    root_hash: bytes = EMPTY_ROOT
    checkpoints_verified: int = 0
    latest_checkpoint: int | None = None
    problems: list[Problem] = field(default_factory=list)

    def add(self, index: int | None, message: str, *, precise: bool = True) -> None:
        self.problems.append(Problem(index, message, precise))

    @property
    def first_bad_index(self) -> int | None:
        exact = [p.index for p in self.problems if p.precise and p.index is not None]
        if exact:
            return min(exact)
        ranged = [p.index for p in self.problems if p.index is not None]
        return min(ranged) if ranged else None

    @property
    def ok(self) -> bool:
        return not self.problems

    def first_problem(self) -> Problem:
        bad = self.first_bad_index
        return next((p for p in self.problems if p.index == bad), self.problems[0])

    def raise_for_problems(self) -> None:
        if self.problems:
            problems = [{"index": p.index, "message": p.message} for p in self.problems]
            raise VerificationError(self.first_problem().message, self.first_bad_index, problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "checkpoints_verified": self.checkpoints_verified,
            "latest_checkpoint_size": self.latest_checkpoint,
            "first_bad_index": self.first_bad_index,
            "problems": [{"index": p.index, "message": p.message} for p in self.problems],
        }


class TreeLevels:
    """Every complete node of a tree, level by level, packed 32 bytes a node."""

    def __init__(self, leaves: bytearray) -> None:
        self.levels = [leaves]
        current = leaves
        while len(current) >= 2 * _H:
            pairs = len(current) // (2 * _H)
            parent = bytearray(pairs * _H)
            for i in range(pairs):
                j = 2 * _H * i
                parent[_H * i : _H * (i + 1)] = hashlib.sha256(
                    b"\x01" + current[j : j + 2 * _H]
                ).digest()
            self.levels.append(parent)
            current = parent

    @property
    def size(self) -> int:
        return len(self.levels[0]) // _H

    def node(self, level: int, index: int) -> bytes | None:
        if level >= len(self.levels) or (index + 1) * _H > len(self.levels[level]):
            return None
        return bytes(self.levels[level][_H * index : _H * (index + 1)])

    def root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        hashes = [self.node(n.level, n.position) for n in range_nodes(0, size)]
        return fold([h for h in hashes if h is not None])


Columns = Mapping[str, Any]


def recompute(
    entries: Iterable[tuple[int, bytes, Columns]],
    report: Report,
    seen: Callable[[int, dict[str, Any]], None] | None = None,
) -> TreeLevels:
    """(1) Check indexes run 0, 1, 2…, each body names its own index and agrees with the
    columns stored beside it (if any); hash the leaves. ``seen`` gets each readable entry's
    index and parsed body, for checks that need the entries once more (step 5)."""
    leaves = bytearray()
    expected = 0
    for index, body, columns in entries:
        if index != expected:
            report.add(expected, f"entry {expected} is missing (next is {index})")
            expected = index
        try:
            data = json.loads(body.decode())
            named = data["index"]
            if any(data[key] != value for key, value in columns.items()):
                report.add(index, f"entry {index}'s columns do not match its body")
            if seen is not None:
                seen(index, data)
        except (ValueError, KeyError, TypeError):
            named = index
            report.add(index, f"entry {index} is not a JSON audit entry")
        if named != index:
            report.add(index, f"entry {index} says it is entry {named}")
        leaves += hashlib.sha256(b"\x00" + body).digest()
        expected += 1
    tree = TreeLevels(leaves)
    report.tree_size = tree.size
    report.root_hash = tree.root(tree.size)
    return tree


class IndexCheck:
    """(5) The search index names exactly the ids each entry names: a row removed would hide an
    entry from search, a row added would show an entry under an id it does not name. The
    leaves do not cover the index, so only this check does. Fed entry by entry in index order
    (from step 1's stream, so the entries are read once), against the stored rows in the same
    order; ``finish`` reports the rows left over."""

    def __init__(self, stored: Iterable[tuple[int, str]], report: Report) -> None:
        self._rows = iter(stored)
        self._pending = next(self._rows, None)
        self._report = report

    def entry(self, index: int, names: Sequence[str]) -> None:
        found: set[str] = set()
        while self._pending is not None and self._pending[0] <= index:
            row_index, name = self._pending
            if row_index < index:
                self._orphan(row_index, name)
            else:
                found.add(name)
            self._pending = next(self._rows, None)
        wanted = set(names)
        for name in sorted(wanted - found):
            self._report.add(index, f"entry {index} names {name!r} but the search index omits it")
        for name in sorted(found - wanted):
            self._report.add(
                index, f"the search index lists entry {index} under {name!r}, not in it"
            )

    def finish(self) -> None:
        while self._pending is not None:
            self._orphan(*self._pending)
            self._pending = next(self._rows, None)

    def _orphan(self, index: int, name: str) -> None:
        self._report.add(index, f"the search index lists {name!r} for a missing entry")


def compare_nodes(
    tree: TreeLevels, stored: Iterable[tuple[int, int, bytes]], report: Report
) -> None:
    """(2) Every stored subtree hash must equal the recomputed one, and none may be missing.

    Stored nodes arrive ordered by (level, position); each level is compared whole, and only a
    level that differs is searched for its first differing node."""
    levels: dict[int, bytearray] = {}
    for level, position, digest in stored:
        row = levels.setdefault(level, bytearray())
        if position * _H != len(row) or len(digest) != _H:
            report.add(
                len(row) // _H << level,
                f"stored node ({level}, {len(row) // _H}) is "
                f"missing or malformed (next is ({level}, {position}))",
            )
            return
        row += digest
    for level in range(max(len(tree.levels), max(levels, default=-1) + 1)):
        mine = tree.levels[level] if level < len(tree.levels) else bytearray()
        theirs = levels.get(level, bytearray())
        if mine == theirs:
            continue
        common = min(len(mine), len(theirs)) // _H
        first = next(
            (
                i
                for i in range(common)
                if mine[i * _H : (i + 1) * _H] != theirs[i * _H : (i + 1) * _H]
            ),
            common,
        )
        if first < common:
            # A changed leaf changes every subtree above it: only leaves pinpoint an entry.
            what = f"entry {first}" if level == 0 else f"subtree ({level}, {first})"
            report.add(first << level, f"{what} does not match its stored hash", precise=level == 0)
        elif len(theirs) > len(mine):
            report.add(first << level, f"stored node ({level}, {first}) is beyond the log")
        else:
            report.add(first << level, f"stored node ({level}, {first}) is missing")


def check_checkpoints(
    tree: TreeLevels,
    notes: Iterable[tuple[str, str]],
    verifiers: Sequence[NoteVerifier],
    report: Report,
) -> list[Checkpoint]:
    """(3) Every checkpoint, given as (label, note), must carry a trusted signature over the
    root we recompute. A mismatch narrows the damage to the entries after the largest
    checkpoint that still holds."""
    good: list[Checkpoint] = []
    bad: list[tuple[str, int]] = []
    for label, note in notes:
        try:
            checkpoint = open_checkpoint(note, verifiers)
        except CheckpointError as exc:
            report.add(None, f"{label}: {exc}")
            continue
        if checkpoint.tree_size > tree.size:
            report.add(
                tree.size,
                f"{label} covers {checkpoint.tree_size} entries; "
                f"the log has {tree.size}: it was truncated",
            )
        elif tree.root(checkpoint.tree_size) != checkpoint.root_hash:
            bad.append((label, checkpoint.tree_size))
        else:
            good.append(checkpoint)
    good_sizes = sorted(c.tree_size for c in good)
    for label, size in bad:
        below = [s for s in good_sizes if s < size]
        start = below[-1] if below else 0
        report.add(
            start,
            f"entries {start}..{size - 1} do not match {label} (signed checkpoint of size {size})",
            precise=False,
        )
    report.checkpoints_verified = len({c.note for c in good})
    report.latest_checkpoint = good_sizes[-1] if good_sizes else None
    return good


# --- exported logs -------------------------------------------------------------------------


def export_lines(
    origin: str, tree_size: int, entries: Iterable[tuple[int, bytes]], notes: Iterable[str]
) -> Iterator[str]:
    """The JSON Lines of an export: a header, every entry's exact bytes, every checkpoint."""
    yield (
        json.dumps(
            {"type": "header", "format": EXPORT_FORMAT, "origin": origin, "tree_size": tree_size}
        )
        + "\n"
    )
    for index, body in entries:
        yield (
            json.dumps({"type": "entry", "index": index, "body": body.decode()}, ensure_ascii=False)
            + "\n"
        )
    for note in notes:
        yield json.dumps({"type": "checkpoint", "note": note}) + "\n"


def verify_export(lines: Iterable[str], verifiers: Sequence[NoteVerifier]) -> Report:
    """Verify an exported log with only public keys. Raises VerificationError if it is bad."""
    report = Report()
    notes: list[str] = []
    header: dict[str, Any] | None = None

    def entries() -> Iterator[tuple[int, bytes, Columns]]:
        nonlocal header
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                kind = record["type"]
            except (ValueError, KeyError, TypeError):
                raise VerificationError(f"export line {number} is not a log record", None) from None
            if kind == "header":
                if record.get("format") != EXPORT_FORMAT:
                    raise VerificationError(f"unknown export format {record.get('format')!r}", None)
                header = record
            elif kind == "entry":
                yield int(record["index"]), str(record["body"]).encode(), {}
            elif kind == "checkpoint":
                notes.append(str(record["note"]))

    tree = recompute(entries(), report)
    if header is None:
        raise VerificationError("export has no header", None)
    if header.get("tree_size") != tree.size:
        report.add(
            min(tree.size, int(header.get("tree_size", 0))),
            f"export header says {header.get('tree_size')} entries; it holds {tree.size}",
        )
    labelled = [(f"checkpoint #{n}", note) for n, note in enumerate(notes, 1)]
    check_checkpoints(tree, labelled, verifiers, report)
    if report.checkpoints_verified == 0 and not report.problems:
        report.add(None, "no checkpoint signed by a trusted key: nothing vouches for this log")
    report.raise_for_problems()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an exported lpm-guard audit log.")
    parser.add_argument("export", type=Path, help="JSON Lines file from `lpm-guard audit export`")
    parser.add_argument(
        "--vkey",
        action="append",
        required=True,
        help="trusted verifier key (repeat for rotated keys)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        verifiers = [NoteVerifier.from_vkey(v) for v in args.vkey]
        with args.export.open(encoding="utf-8") as lines:
            report = verify_export(lines, verifiers)
    except (VerificationError, CheckpointError, OSError) as exc:
        index = getattr(exc, "first_bad_index", None)
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc), "first_bad_index": index}))
        else:
            print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(
            f"OK: {report.tree_size} entries, root {report.root_hash.hex()}, "
            f"{report.checkpoints_verified} checkpoints verified"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
