"""What the benchmarks share: an aligned text table and time-stamped progress lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Collection, Sequence


def table(rows: Sequence[Sequence[str]], right: Collection[int]) -> str:
    """Rows (the first is the header) as aligned columns; ``right`` columns align right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
