"""Benchmark of the audit log (``lpm_guard.audit``): durable appends, proofs, full verification.

    .venv/bin/python bench/audit.py                 # 1,000,000-entry log: a few minutes
    .venv/bin/python bench/audit.py --quick         # 100,000 entries, 2 runs each: under a minute
    .venv/bin/python bench/audit.py --json out.json # also write the results as JSON

Every figure is the median of several runs. Appends are durable: each ``append`` or
``append_many`` call is one committed transaction (SQLite in WAL mode with synchronous=FULL, as
``lpm_guard.database.make_engine`` sets it up; on PostgreSQL, whatever the server's
``synchronous_commit`` says, printed in the header). Logs live in a temporary directory that is
deleted afterwards; with ``--database-url`` each log gets a fresh schema that is dropped
afterwards, so the tables of the database named are never touched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lpm_guard.audit import (
    AuditLog,
    Entry,
    Event,
    NoteSigner,
    schema,
    verify_consistency,
    verify_inclusion,
)
from report import cpu_model, progress, table  # bench/report.py
from sqlalchemy import event

from lpm_guard.database import make_engine

ORIGIN = "bench.lpm-guard.local/audit"
TARGET_SIZE = 1_000_000  # the size the targets are set for
TARGET_BATCHED_PER_S = 5_000.0
TARGET_PROOF_MS = 2.0
TARGET_VERIFY_S = 30.0  # at TARGET_SIZE entries


# --- events -------------------------------------------------------------------------------


def _hex(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def make_event(n: int) -> Event:
    """A generation decision as the gate records it: about 330 bytes of canonical JSON."""
    user = n % 5_000
    allow = n % 10 != 0
    return Event(
        action="bench:generation:decide",
        actor=f"user:{user}",
        outcome="allow" if allow else "deny",
        objects={
            "identity": "id_" + _hex("identity", user)[:12],
            "consent": "cn_" + _hex("consent", n % 20_000)[:12],
        },
        reasons=("consent:valid",) if allow else ("consent:expired",),
        payload={"policy": 3, "reference_sha256": _hex("reference", n)},
    )


class EventSource:
    """Distinct events, built before the clock starts so only the log is timed."""

    def __init__(self) -> None:
        self._next = 0

    def take(self, count: int) -> list[Event]:
        start, self._next = self._next, self._next + count
        return [make_event(n) for n in range(start, start + count)]


def body_size(index: int) -> int:
    return len(Entry(index=index, timestamp=datetime.now(UTC), event=make_event(index)).canonical())


# --- results ------------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    key: str
    label: str
    unit: str  # "/s", "ms" or "s"
    runs: list[float]
    target: float | None = None
    higher_is_better: bool = True
    footnote: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float:
        return statistics.median(self.runs)

    @property
    def status(self) -> str:
        if self.target is None:
            return ""
        ok = self.value >= self.target if self.higher_is_better else self.value <= self.target
        return "PASS" if ok else "MISS"

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        sign = ">=" if self.higher_is_better else "<="
        return f"{sign} {fmt(self.target, self.unit)}{self.footnote}"

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "median": self.value,
            "runs": self.runs,
            "target": self.target,
            "target_is_minimum": self.higher_is_better if self.target is not None else None,
            "status": self.status or None,
            **self.extra,
        }


def number(value: float, unit: str) -> str:
    if unit == "/s":
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    return f"{value:.3f}" if unit == "ms" else f"{value:.2f}"


def fmt(value: float, unit: str) -> str:
    return f"{number(value, unit)} {unit}"


def render(results: Sequence[Result]) -> str:
    header = ("measurement", "median", "runs (min..max)", "n", "target", "status")
    rows = [header]
    for r in results:
        spread = f"{number(min(r.runs), r.unit)}..{number(max(r.runs), r.unit)}"
        rows.append(
            (r.label, fmt(r.value, r.unit), spread, str(len(r.runs)), r.target_text(), r.status)
        )
    return table(rows, right={1, 2, 3, 4})


# --- logs ---------------------------------------------------------------------------------


def _search_path(name: str) -> Callable[[Any, Any], None]:
    def set_path(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET search_path TO "{name}"')
        cursor.close()
        dbapi_connection.commit()

    return set_path


@contextmanager
def fresh_log(args: argparse.Namespace, label: str) -> Iterator[AuditLog]:
    """An empty log with new tables, removed afterwards (temporary file or schema)."""
    with tempfile.TemporaryDirectory(prefix=f"lpm-bench-{label}-", dir=args.tmpdir) as tmp:
        signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
        with fresh_engine(args, label, Path(tmp)) as engine:
            with engine.begin() as conn:
                schema.create(conn)
            yield AuditLog(
                engine, signer=signer, witness=Path(tmp) / "witness", checkpoint_interval=0
            )


@contextmanager
def fresh_engine(args: argparse.Namespace, label: str, tmp: Path) -> Iterator[sqlalchemy.Engine]:
    """A temporary SQLite file, or a new schema on the PostgreSQL server named."""
    if args.database_url is None:
        engine = make_engine(f"sqlite:///{tmp / 'audit.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    name = f"lpm_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.database_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    engine = make_engine(args.database_url)
    event.listen(engine, "connect", _search_path(name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        admin.dispose()


def storage_bytes(log: AuditLog) -> int | None:
    engine = log.engine
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path:
            return None
        return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            value = conn.exec_driver_sql(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "WHERE c.relname IN ('audit_entries', 'audit_nodes', 'audit_checkpoints') "
                "AND pg_table_is_visible(c.oid)"
            ).scalar()
        return None if value is None else int(value)
    return None


# --- machine ------------------------------------------------------------------------------


def _filesystem(path: str) -> str:
    """The filesystem type and device that hold ``path`` (Linux), for the durability context."""
    target = os.path.realpath(path)
    best, found = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                device, mount, kind = line.split()[:3]
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, found = mount, f"{kind} on {device}"
    except OSError:
        pass
    return found


def describe_backend(args: argparse.Namespace) -> dict[str, str]:
    with fresh_log(args, "probe") as log, log.engine.connect() as conn:
        if log.engine.dialect.name == "sqlite":
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
            directory = args.tmpdir or tempfile.gettempdir()
            return {
                "database": f"SQLite {sqlite3.sqlite_version}, journal_mode={journal}, "
                f"synchronous={names.get(int(sync or 0), sync)}",
                "data dir": f"{directory} ({_filesystem(directory)})",
            }
        settings = ", ".join(
            f"{name}={conn.exec_driver_sql(f'SHOW {name}').scalar()}"
            for name in ("fsync", "synchronous_commit", "wal_sync_method")
        )
        version = conn.exec_driver_sql("SHOW server_version").scalar()
        return {
            "database": f"PostgreSQL {version}, {settings}",
            "database url": log.engine.url.render_as_string(hide_password=True),
        }


def machine_info(args: argparse.Namespace) -> dict[str, str]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": f"{platform.node()} ({platform.system()} {platform.release()})",
        "cpu": f"{cpu_model()}; nproc={len(os.sched_getaffinity(0))}, "
        f"cpu_count={os.cpu_count()}, load average {load}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        **describe_backend(args),
    }


# --- measurements -------------------------------------------------------------------------


def append_rates(
    log: AuditLog, source: EventSource, batch: int, per_run: int, runs: int
) -> list[float]:
    """Durable appends/s in each run: ``append`` one event per transaction when ``batch`` is 1,
    else ``append_many`` with ``batch`` events per transaction."""
    rates = []
    for _ in range(runs):
        batches = [source.take(batch) for _ in range(max(1, per_run // batch))]
        start = time.perf_counter()
        if batch == 1:
            for events in batches:
                log.append(events[0])
        else:
            for events in batches:
                log.append_many(events)
        rates.append(len(batches) * batch / (time.perf_counter() - start))
    return rates


def append_results(
    source: EventSource,
    log: AuditLog,
    batch: int,
    *,
    where: str,
    suffix: str,
    per_run: int,
    runs: int,
) -> Result:
    rates = append_rates(log, source, batch, per_run, runs)
    kind = "single" if batch == 1 else f"batch {batch:,}"
    count = max(1, per_run // batch) * batch
    progress(f"appends, {kind}, {where}: {statistics.median(rates):,.0f} /s")
    return Result(
        f"append_{'single' if batch == 1 else f'batch_{batch}'}{suffix}",
        f"durable appends, {kind}, {where} ({count:,}/run)",
        "/s",
        rates,
        None if batch == 1 else TARGET_BATCHED_PER_S,
    )


def bench_appends(args: argparse.Namespace, source: EventSource) -> list[Result]:
    """Durable appends, each kind on a new log: single (one per transaction), then batched."""
    results = []
    for batch, per_run in ((1, args.single), (100, args.batched), (1000, args.batched)):
        with fresh_log(args, "appends") as log:
            log.append_many(source.take(10))  # warm up: connection, statement caches
            results.append(
                append_results(
                    source,
                    log,
                    batch,
                    where="new log",
                    suffix="",
                    per_run=per_run,
                    runs=args.repeat,
                )
            )
    return results


def build(log: AuditLog, source: EventSource, total: int, batch: int) -> tuple[float, list[float]]:
    """Grow the log to ``total`` entries; returns the seconds spent appending and the append
    rate in each tenth of the log (to show whether appends slow down as the log grows)."""
    done = log.size()
    elapsed = 0.0
    tenth_time, tenth_count = [0.0] * 10, [0] * 10
    report_every = max(total // 10, 1)
    next_report = done + report_every
    while done < total:
        count = min(batch, total - done)
        events = source.take(count)
        start = time.perf_counter()
        log.append_many(events)
        took = time.perf_counter() - start
        elapsed += took
        tenth = min(9, done * 10 // total)
        tenth_time[tenth] += took
        tenth_count[tenth] += count
        done += count
        if done >= next_report and total >= 100_000:
            progress(f"  built {done:,}/{total:,} ({done / elapsed:,.0f} /s so far)")
            next_report += report_every
    rates = [c / t for c, t in zip(tenth_count, tenth_time, strict=True) if t > 0]
    return elapsed, rates


def time_proofs(
    log: AuditLog, size: int, runs: int, proofs: int, rng: random.Random
) -> tuple[list[float], list[float], list[float]]:
    """Per run, the median ms of ``proofs`` inclusion and consistency proofs; and every
    inclusion proof's time. Every proof is checked against the root, outside the clock."""
    inclusion_runs, consistency_runs, every = [], [], []
    root = log.root()
    for _ in range(runs):
        times = []
        for _ in range(proofs):
            index = rng.randrange(size)
            start = time.perf_counter()
            proof = log.inclusion_proof(index)
            times.append((time.perf_counter() - start) * 1e3)
            assert proof.root_hash == root and proof.tree_size == size
            verify_inclusion(proof.leaf_hash, index, size, proof.path, root)
        inclusion_runs.append(statistics.median(times))
        every += times
        times = []
        for _ in range(proofs):
            old = rng.randrange(1, size)
            start = time.perf_counter()
            consistency = log.consistency_proof(old)
            times.append((time.perf_counter() - start) * 1e3)
            verify_consistency(old, size, consistency.old_root, root, consistency.path)
        consistency_runs.append(statistics.median(times))
    return inclusion_runs, consistency_runs, every


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_proofs(
    args: argparse.Namespace,
    log: AuditLog,
    size: int,
    runs: int,
    rng: random.Random,
    *,
    proof_target: float | None,
    footnote: str = "",
) -> list[Result]:
    inclusion, consistency, every = time_proofs(log, size, runs, args.proofs, rng)
    progress(
        f"proofs at {size:,}: inclusion {statistics.median(inclusion):.3f} ms, "
        f"consistency {statistics.median(consistency):.3f} ms"
    )
    pooled = {"p95_ms": _percentile(every, 0.95), "max_ms": max(every), "proofs": len(every)}
    return [
        Result(
            f"inclusion_proof_{size}",
            f"inclusion proof @ {size:,} entries",
            "ms",
            inclusion,
            proof_target,
            higher_is_better=False,
            footnote=footnote,
            extra={"tree_size": size, **pooled},
        ),
        Result(
            f"consistency_proof_{size}",
            f"consistency proof @ {size:,} entries",
            "ms",
            consistency,
            extra={"tree_size": size},
        ),
    ]


def bench_small(args: argparse.Namespace, source: EventSource) -> list[Result]:
    with fresh_log(args, "small") as log:
        build(log, source, args.small_entries, args.build_batch)
        rng = random.Random(args.seed)
        results = bench_proofs(args, log, args.small_entries, args.repeat, rng, proof_target=None)
    return results[:1]  # consistency proofs are reported at the big size only


def bench_big(
    args: argparse.Namespace, source: EventSource, notes: list[str], extra: dict[str, Any]
) -> list[Result]:
    size = args.entries
    scale = "" if size == TARGET_SIZE else "*"
    with fresh_log(args, "big") as log:
        progress(f"building a {size:,}-entry log in batches of {args.build_batch:,}")
        elapsed, tenths = build(log, source, size, args.build_batch)
        rate = size / elapsed
        progress(f"built {size:,} entries in {elapsed:.1f} s ({rate:,.0f} /s)")
        results = [
            Result(
                "append_sustained",
                f"durable appends, batch {args.build_batch:,}, building {size:,}",
                "/s",
                [rate],
                TARGET_BATCHED_PER_S,
                extra={"seconds": elapsed, "rate_by_tenth": tenths},
            )
        ]
        notes.append(
            "build rate by tenth of the log: " + " ".join(f"{r / 1e3:.1f}k" for r in tenths) + " /s"
        )
        stored = storage_bytes(log)
        if stored is not None:
            extra["storage_bytes"] = stored
            notes.append(
                f"storage at {size:,} entries: {stored / 2**20:,.0f} MiB "
                f"({stored / size:,.0f} bytes per entry, nodes and indexes included)"
            )

        rng = random.Random(args.seed + 1)
        results += bench_proofs(
            args, log, size, args.repeat_big, rng, proof_target=TARGET_PROOF_MS, footnote=scale
        )

        checkpoint = log.checkpoint(force=True)
        assert checkpoint.tree_size == size
        runs = []
        for n in range(args.repeat_big):
            start = time.perf_counter()
            report = log.verify()
            runs.append(time.perf_counter() - start)
            assert report.ok and report.tree_size == size and report.checkpoints_verified >= 1
            progress(f"verify run {n + 1}/{args.repeat_big}: {runs[-1]:.2f} s")
        results.append(
            Result(
                "verify_full",
                f"full verify @ {size:,} entries",
                "s",
                runs,
                TARGET_VERIFY_S * args.entries / TARGET_SIZE,
                higher_is_better=False,
                footnote=scale,
                extra={"tree_size": size, "checkpoints_verified": report.checkpoints_verified},
            )
        )
        notes.append(
            f"verify checked {report.tree_size:,} entries, every stored node and "
            f"{report.checkpoints_verified} signed checkpoint(s) (one in the database, "
            "the same one as the witness file); page cache warm"
        )

        for batch, per_run in (
            (1, args.single_big),
            (100, args.batched_big),
            (1000, args.batched_big),
        ):
            results.append(
                append_results(
                    source,
                    log,
                    batch,
                    where=f"at {size:,} entries",
                    suffix="_big",
                    per_run=per_run,
                    runs=args.repeat_big,
                )
            )

    notes.append(
        f"proofs: each run's figure is the median of {args.proofs} proofs for random "
        "indexes (consistency: random old sizes), each checked against the root"
    )
    if scale:
        notes.append(
            f"* the targets are set for {TARGET_SIZE:,} entries; at {size:,} the "
            "verify target is scaled linearly and the proof target kept as is"
        )
    return results


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the audit log: durable appends, proofs, full verification."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100,000 entries and 2 runs each (unless given): about a minute",
    )
    parser.add_argument("--entries", type=int, help="size of the big log (default 1,000,000)")
    parser.add_argument(
        "--repeat", type=int, help="runs of each quick measurement (default 5; --quick: 2)"
    )
    parser.add_argument(
        "--repeat-big",
        type=int,
        help="runs of the proofs and verify on the big log (default 3; --quick: 2)",
    )
    parser.add_argument("--single", type=int, default=500, help="single appends per run")
    parser.add_argument(
        "--single-big", type=int, default=50, help="single appends per run on the big log"
    )
    parser.add_argument(
        "--batched", type=int, default=10_000, help="events per run of the batched appends"
    )
    parser.add_argument(
        "--batched-big",
        type=int,
        default=5_000,
        help="events per run of the batched appends on the big log",
    )
    parser.add_argument(
        "--build-batch", type=int, default=5_000, help="batch size for building the logs"
    )
    parser.add_argument(
        "--small-entries", type=int, default=10_000, help="size of the small log for proofs"
    )
    parser.add_argument("--proofs", type=int, default=200, help="proofs of each kind per run")
    parser.add_argument("--seed", type=int, default=1, help="seed for the random indexes")
    parser.add_argument("--tmpdir", help="where the temporary SQLite logs go (default: $TMPDIR)")
    parser.add_argument(
        "--database-url", help="run on this PostgreSQL database instead, in throwaway schemas"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.entries is None:
        args.entries = 100_000 if args.quick else TARGET_SIZE
    if args.repeat is None:
        args.repeat = 2 if args.quick else 5
    if args.repeat_big is None:
        args.repeat_big = 2 if args.quick else 3
    for name in (
        "entries",
        "repeat",
        "repeat_big",
        "single",
        "single_big",
        "batched",
        "batched_big",
        "build_batch",
        "small_entries",
        "proofs",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.entries < 2 or args.small_entries < 2:
        parser.error("the logs need at least 2 entries for consistency proofs")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A plain `kill` still removes the temporary logs.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    started = time.perf_counter()
    info = machine_info(args)
    info["event body"] = f"{body_size(123_456)} bytes of canonical JSON (RFC 8785)"
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    if config.get("database_url"):
        config["database_url"] = info.get("database url")
    width = max(map(len, info))
    print("lpm-guard audit log benchmark")
    for key, value in info.items():
        print(f"  {key.ljust(width)}  {value}")
    print(
        f"  {'runs'.ljust(width)}  repeat={args.repeat}, repeat-big={args.repeat_big}, "
        f"big log={args.entries:,} entries"
    )
    print(flush=True)

    source = EventSource()
    notes: list[str] = []
    extra: dict[str, Any] = {}
    results = bench_appends(args, source)
    results += bench_small(args, source)
    results += bench_big(args, source, notes, extra)
    total = time.perf_counter() - started
    order = [
        "append_single",
        "append_batch_100",
        "append_batch_1000",
        "append_sustained",
        "append_single_big",
        "append_batch_100_big",
        "append_batch_1000_big",
    ]
    results.sort(key=lambda r: order.index(r.key) if r.key in order else len(order))

    print(render(results))
    print()
    for note in notes:
        print(note)
    print(f"total time {total:.0f} s")
    missed = [r.label for r in results if r.status == "MISS"]
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "config": config,
                    "results": {r.key: r.to_json() for r in results},
                    "notes": notes,
                    "seconds": total,
                    **extra,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
