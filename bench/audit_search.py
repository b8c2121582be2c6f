"""Benchmark of the reviewers' audit search (``lpm_guard.auditing.search``): finding the entries
about one id through the log's ``audit_objects`` index, and what that index costs appends.

    .venv/bin/python bench/audit_search.py                  # 200,000 entries
    .venv/bin/python bench/audit_search.py --size 1000000   # a million (several minutes to fill)
    .venv/bin/python bench/audit_search.py --json out.json  # also write the results as JSON

Every figure is the median of several runs over a SQLite log in a temporary directory. Each
session id is named by 4 entries spread over the log, as a live session's admission, revocation
and reads are.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lpm_guard.audit import AuditLog, Event, schema
from report import cpu_model, progress, table  # bench/report.py

from lpm_guard.auditing.search import search
from lpm_guard.database import make_engine

BATCH = 10_000
TARGET_MS = 50.0  # a reviewer's search, any log size


def make_event(n: int, sessions: int) -> Event:
    return Event(
        action="session:stream:open",
        actor=f"acct_{n % 997:024x}",
        objects={"session": f"ses_{n % sessions:016x}", "identity": f"idn_{n % 5000:032x}"},
        payload={"frames": n, "note": "x" * 120},
    )


def median_ms(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sessions = max(1, args.size // 4)
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/audit.db")
        with engine.begin() as conn:
            schema.create(conn)
        log = AuditLog(engine)
        progress(f"filling a log of {args.size:,} entries")
        started = time.perf_counter()
        for start in range(0, args.size, BATCH):
            stop = min(args.size, start + BATCH)
            log.append_many([make_event(n, sessions) for n in range(start, stop)])
        fill_s = time.perf_counter() - started
        newest = f"ses_{(args.size - 1) % sessions:016x}"
        oldest = f"ses_{0:016x}"
        actor = f"acct_{5:024x}"
        cases = [
            ("session id (4 matches)", lambda: search(log, about=newest, limit=50)),
            ("oldest session id (4 matches)", lambda: search(log, about=oldest, limit=50)),
            ("unknown id (no match)", lambda: search(log, about="ses_nobody", limit=50)),
            ("busy actor, first page of 50", lambda: search(log, about=actor, limit=50)),
            (
                "id and action (no match)",
                lambda: search(log, about=newest, action="session:stream:revoke", limit=50),
            ),
        ]
        assert len(search(log, about=newest, limit=50).entries) == 4
        results = {}
        for name, work in cases:
            progress(name)
            results[name] = median_ms(work, args.runs)
    rows = [["search", "median ms"]]
    rows += [[name, f"{ms:,.1f}"] for name, ms in results.items()]
    print(f"audit search over {args.size:,} entries, SQLite, {cpu_model()}")
    print(table(rows, right={1}))
    print(f"\nfilled at {args.size / fill_s:,.0f} entries/s in batches of {BATCH:,}")
    slowest = max(results.values())
    print(f"slowest search {slowest:,.1f} ms (target {TARGET_MS:,.0f} ms)")
    if args.json:
        summary = {"size": args.size, "cpu": cpu_model(), "fill_per_s": args.size / fill_s}
        args.json.write_text(json.dumps(summary | {"median_ms": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
