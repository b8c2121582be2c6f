"""How soon held live instructions reach the session once a reviewer approves them (issue 21).

Two nodes on one database (``tests.gate.nodes``): node A streams a session; each run sends
instructions the policy holds ("review"), node B's ``InstructionReviewService`` approves them,
and the time until A's client hears ``session.updated`` is measured (A's watch reads the
decision through the database twice a second). Prints each delay, the median and the maximum.

    .venv/bin/python bench/held_instructions.py [--runs 8] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skimage import data

from lpm_guard.auditing.services import AuditService
from lpm_guard.live.reviews import InstructionReviewService
from lpm_guard.settings import Settings
from tests.gate.nodes import Node, streaming
from tests.live.test_held_instructions import ACCUSATION, update


def held(events: list[dict[str, object]], kind: str) -> list[dict[str, object]]:
    return [e for e in events if e["type"] == kind]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--json", type=Path, default=None, help="also write the delays here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    settings = Settings(
        data_dir=folder / "data",
        checkpoint_interval_s=3600,
        log_level="WARNING",
        **({"database_url": args.database_url} if args.database_url else {}),
    )
    a, b = Node.open(settings), Node.open(settings)
    try:
        owner = a.researcher(quota_s=6000)
        session = a.open_session(owner, a.character(owner, data.astronaut()))
        reviews = InstructionReviewService(b.runtime, AuditService(b.runtime.audit))
        delays: list[float] = []
        with streaming(session) as stream:
            stream.wait_frames(3)
            for n in range(args.runs):
                update(session, ACCUSATION, f"run{n}")
                while len(waiting := held(stream.events, "session.instructions_held")) <= n:
                    time.sleep(0.005)
                asked = time.monotonic()
                reviews.decide(
                    "bench:reviewer", str(waiting[n]["review_id"]), approve=True, reason="ok"
                )
                while len(held(stream.events, "session.updated")) <= n:
                    assert time.monotonic() - asked < 10, "the approval never reached the session"
                    time.sleep(0.005)
                delays.append(time.monotonic() - asked)
                time.sleep(0.3)  # the next one starts at another point of the watch's cycle
    finally:
        b.close()
        a.close()
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"approval on node B -> session.updated on node A ({database}, {args.runs} runs)")
    print("delays s:", " ".join(f"{d:.3f}" for d in delays))
    print(f"median {statistics.median(delays):.3f} s, max {max(delays):.3f} s")
    if args.json:
        args.json.write_text(json.dumps({"database": database, "delays_s": delays}))


if __name__ == "__main__":
    main()
