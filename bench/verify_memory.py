"""Peak memory of ``POST /v1/verify`` on videos built to exhaust it (issue 18, H1 and L10).

    .venv/bin/python bench/verify_memory.py                 # bounds on, then off: ~3 minutes
    .venv/bin/python bench/verify_memory.py --runs 3        # medians of 3 server runs
    .venv/bin/python bench/verify_memory.py --json out.json

Each case starts a fresh ``lpm-guard serve`` (a subprocess), warms it with one small
verification, reads its peak RSS (``VmHWM``), posts the clip and reads the peak again: the
growth is what that one request cost. Cases: a 15 KB H.264 MP4 of 50 black 2048x2048 frames,
a Motion-JPEG MP4 of 4096x4096 frames (the clips of ``tests/provenance/oversized.py``), and an
honest 1920x1080 H.264 clip of 50 frames, which is verified. "bounds off" reruns them with
LPM_VERIFY_MAX_FRAME_PIXELS and LPM_VERIFY_MAX_HELD_PIXELS raised out of reach, which is how
the server behaved before the bounds. Then (L10) a burst of honest 1080p verifications: the
server's RSS when idle after warming, and a few seconds after the burst (target: within 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from report import cpu_model, progress, table  # bench/report.py

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.provenance.oversized import flat_h264, mjpeg
from tests.server import free_port

MIB = 1024 * 1024
UNBOUNDED = {"LPM_VERIFY_MAX_FRAME_PIXELS": str(10**9), "LPM_VERIFY_MAX_HELD_PIXELS": str(10**12)}


def honest(path: Path, width: int, height: int, frames: int) -> Path:
    """A textured moving clip as a camera or the generator would give."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((8, 8, 1), np.uint8))
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(frames):
            rgb = np.ascontiguousarray(np.roll(base, i * 2, axis=1))
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, 25)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return path


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


class Server:
    def __init__(self, directory: Path, extra: dict[str, str]) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "LPM_DATA_DIR": str(directory / "data"),
            "LPM_LOG_LEVEL": "WARNING",
            "LPM_VERIFY_RATE_LIMIT": "10000/minute",
            **extra,
        }
        command = [sys.executable, "-m", "lpm_guard", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(self.url("/healthz"), timeout=2).read()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.3)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def verify(self, clip: Path) -> int:
        request = urllib.request.Request(
            self.url("/v1/verify"),
            data=clip.read_bytes(),
            headers={"Content-Type": "video/mp4"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def kib(self, field: str) -> int:
        return status_kib(self.process.pid, field)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def growth(directory: Path, warm: Path, clip: Path, extra: dict[str, str]) -> tuple[int, float]:
    server = Server(directory, extra)
    try:
        server.verify(warm)
        before = server.kib("VmHWM")
        status = server.verify(clip)
        return status, (server.kib("VmHWM") - before) / 1024
    finally:
        server.stop()


def burst(directory: Path, warm: Path, clip: Path, count: int) -> tuple[float, float, float]:
    server = Server(directory, {})
    try:
        server.verify(warm)
        time.sleep(2)
        idle = server.kib("VmRSS") / 1024
        for _ in range(count):
            server.verify(clip)
        peak = server.kib("VmHWM") / 1024
        time.sleep(3)
        return idle, peak, server.kib("VmRSS") / 1024
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="server runs per case (median)")
    parser.add_argument("--mjpeg-frames", type=int, default=16, help="4096x4096 JPEG frames")
    parser.add_argument("--burst", type=int, default=6, help="1080p verifications in the burst")
    parser.add_argument("--no-unbounded", action="store_true", help="skip the bounds-off runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lpm-bench-verify-") as name:
        root = Path(name)
        progress("writing the clips")
        warm = honest(root / "warm.mp4", 320, 240, 10)
        clips: dict[str, Callable[[], Path]] = {
            "H.264 2048x2048 x50": lambda: flat_h264(root / "h264.mp4", 2048, 50),
            f"MJPEG 4096x4096 x{args.mjpeg_frames}": lambda: mjpeg(
                root / "mjpeg.mp4", [4096] * args.mjpeg_frames
            ),
            "honest H.264 1920x1080 x50": lambda: honest(root / "hd.mp4", 1920, 1080, 50),
        }
        made = {label: make() for label, make in clips.items()}
        modes: dict[str, dict[str, str]] = {"bounds on": {}}
        if not args.no_unbounded:
            modes["bounds off"] = UNBOUNDED
        rows = [["clip", "size", "mode", "status", "peak RSS growth (MiB)"]]
        results: list[dict[str, Any]] = []
        for label, clip in made.items():
            for mode, extra in modes.items():
                runs = []
                for run in range(args.runs):
                    progress(f"{label}, {mode}, run {run + 1}")
                    runs.append(growth(root, warm, clip, extra))
                median = statistics.median(r[1] for r in runs)
                statuses = sorted({r[0] for r in runs})
                size = f"{clip.stat().st_size / MIB:.2f} MiB"
                rows.append([label, size, mode, "/".join(map(str, statuses)), f"{median:.0f}"])
                results.append(
                    {
                        "clip": label,
                        "mode": mode,
                        "status": statuses,
                        "growth_mib": [r[1] for r in runs],
                    }
                )
        progress(f"burst of {args.burst} 1080p verifications")
        idle, peak, after = burst(root, warm, made["honest H.264 1920x1080 x50"], args.burst)
    print(f"# verify memory: {cpu_model()}, {os.cpu_count()} CPUs, runs per case: {args.runs}")
    print(table(rows, right={1, 3, 4}))
    verdict = "PASS" if after <= 2 * idle else "MISS"
    print(
        f"\nburst of {args.burst}: idle RSS {idle:.0f} MiB, peak {peak:.0f} MiB, "
        f"3 s after {after:.0f} MiB ({after / idle:.2f}x idle, target <= 2x: {verdict})"
    )
    if args.json:
        payload = {
            "cases": results,
            "burst": {"idle_mib": idle, "peak_mib": peak, "after_mib": after, "count": args.burst},
        }
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
