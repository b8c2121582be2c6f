"""Benchmark of C2PA provenance (``lpm_guard.provenance``): signing and verifying MP4s.

    .venv/bin/python bench/provenance.py                  # 5 runs each: about a minute
    .venv/bin/python bench/provenance.py --quick          # 3 runs, fewer segments
    .venv/bin/python bench/provenance.py --json out.json  # also write the results as JSON

Measures, as medians over runs: signing a 10 s MP4 (512x512 and 1280x720, with audio; the
atomic publish with fsync included), signing each 2 s live segment as ``SegmentRecorder``
closes it (target <= 20 ms), signing the whole recording with its segments as ingredients,
reading and validating a manifest (C2PA only) and a full ``verify_file`` (probe, hash, C2PA,
watermark when available, audit inclusion proof), and a 2 s clip signed without and with an
RFC 3161 time-stamp from the test authority on loopback (tests/tsa.py): the time-stamp's own
cost; a real authority adds its network round trip on top. Frames are synthetic; encoding time
is not counted in any signing figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from importlib import metadata
from pathlib import Path
from typing import Any

import av
import numpy as np
from report import cpu_model, progress, table  # bench/report.py

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests/tsa.py
from lpm_guard.auditing.services import AuditService
from lpm_guard.provenance.models import ProvenanceRecord, SegmentSigned
from lpm_guard.provenance.reading import read_c2pa
from lpm_guard.provenance.services import ProvenanceService
from lpm_guard.provenance.signing import Mp4Signer
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.tsa import running_tsa

FPS = 25
C2PA_VERSION = metadata.version("c2pa-python")
TARGET_SEGMENT_SIGN_MS = 20.0
SIZES = {"512x512": (512, 512), "1280x720": (1280, 720)}


def frame(index: int, width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = (x * 255 // width + index * 3) % 256
    rgb[..., 1] = (y * 255 // height + index) % 256
    rgb[..., 2] = (x // 7 + y // 5 + index * 5) % 256
    return rgb


def write_clip(path: Path, seconds: float, width: int, height: int) -> Path:
    frames = round(seconds * FPS)
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "23"}
        audio = container.add_stream("aac", rate=48000)
        audio.layout = "mono"
        for i in range(frames):
            picture = av.VideoFrame.from_ndarray(frame(i, width, height), format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, FPS)
            container.mux(video.encode(picture))
        container.mux(video.encode())
        samples = (0.1 * np.sin(np.arange(frames * 48000 // FPS) / 20)).astype(np.float32)
        chunk = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        chunk.sample_rate, chunk.pts, chunk.time_base = 48000, 0, Fraction(1, 48000)
        container.mux(audio.encode(chunk))
        container.mux(audio.encode())
    return path


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def make_record(runtime: Runtime) -> ProvenanceRecord:
    audit = AuditService(runtime.audit)
    receipt = audit.record("bench:generation:allow", "bench")
    note = runtime.audit.checkpoint(force=True).note
    return ProvenanceRecord(
        session_id="ses_bench",
        receipt=receipt,
        checkpoint_note=note,
        policy_version="bench",
        consent_sha256=hashlib.sha256(b"bench").hexdigest(),
        generator_version="bench",
        watermark_reference=receipt.index,
    )


def bench_size(
    service: ProvenanceService,
    runtime: Runtime,
    record: ProvenanceRecord,
    tmp: Path,
    name: str,
    runs: int,
    segments: int,
) -> list[dict[str, Any]]:
    width, height = SIZES[name]
    anchors = service.trust_anchors()
    rows: list[dict[str, Any]] = []
    # (1): a 10 s offline clip.
    progress(f"{name}: encoding a 10 s clip")
    clip = write_clip(tmp / f"clip-{name}.mp4", 10.0, width, height)
    target = tmp / f"signed-{name}.mp4"
    with Mp4Signer(runtime.keys.c2pa_signer()) as signer:
        assets = [signer.sign(clip, target, record) for _ in range(runs)]
    sign = statistics.median(a.sign_ms for a in assets)
    publish = statistics.median(a.publish_ms for a in assets)
    read = median_ms(lambda: read_c2pa(target, anchors), runs)
    verify = median_ms(lambda: service.verify_file(target), runs)
    size_mb = clip.stat().st_size / 1e6
    rows.append(_row(f"sign 10 s MP4 ({size_mb:.1f} MB)", name, sign))
    rows.append(_row("  + durable publish (fsync, rename)", name, publish))
    rows.append(_row("read + validate manifest (10 s MP4)", name, read))
    rows.append(_row("verify_file (10 s MP4)", name, verify))
    # (1b): a segment-sized clip, signed without and with a time-stamp (loopback TSA).
    short = write_clip(tmp / f"short-{name}.mp4", 2.0, width, height)
    with Mp4Signer(runtime.keys.c2pa_signer()) as signer:
        bare = [signer.sign(short, tmp / "short-signed.mp4", record) for _ in range(runs)]
    with running_tsa() as tsa, Mp4Signer(runtime.keys.c2pa_signer(), ta_url=tsa.url) as signer:
        stamped = [signer.sign(short, tmp / "short-stamped.mp4", record) for _ in range(runs)]
    rows.append(
        _row("sign 2 s MP4, no time-stamp", name, statistics.median(a.sign_ms for a in bare))
    )
    rows.append(
        _row(
            "sign 2 s MP4, time-stamped (TSA on loopback)",
            name,
            statistics.median(a.sign_ms for a in stamped),
        )
    )
    # (2): a live recording in 2 s segments, then the whole with them as ingredients.
    progress(f"{name}: recording {segments} segments of 2 s")
    events: list[SegmentSigned] = []
    recorder = service.recorder(
        tmp / f"live-{name}",
        stream_id=f"live-{name}",
        record=record,
        width=width,
        height=height,
        fps=FPS,
        audio_rate=48000,
        on_segment=events.append,
    )
    for i in range(segments * 2 * FPS):
        recorder.add_frame(frame(i, width, height), i / FPS)
        if i % FPS == 0:
            recorder.add_audio(np.zeros(48000, np.float32))
    started = time.perf_counter()
    whole = recorder.close()
    close_ms = (time.perf_counter() - started) * 1000
    seg_ms = statistics.median(e.sign_ms for e in events)
    seg_publish = statistics.median(e.publish_ms for e in events)
    rows.append(_row("sign one 2 s live segment", name, seg_ms, TARGET_SEGMENT_SIGN_MS))
    rows.append(_row("  + durable publish (fsync, rename)", name, seg_publish))
    rows.append(_row(f"sign whole recording ({segments} ingredients)", name, whole.sign_ms))
    rows.append(_row("close(): last segment + whole", name, close_ms))
    chain = median_ms(lambda: service.verify_segments([e.path for e in events]), runs)
    rows.append(_row(f"verify segment chain ({segments})", name, chain))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement")
    parser.add_argument("--segments", type=int, default=15, help="2 s segments per recording")
    parser.add_argument("--quick", action="store_true", help="3 runs, 5 segments")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    runs, segments = (3, 5) if args.quick else (args.runs, args.segments)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lpm-bench-provenance-") as tmp_name:
        tmp = Path(tmp_name)
        runtime = Runtime.open(Settings(data_dir=tmp / "data", checkpoint_interval_s=3600))
        service = ProvenanceService.from_runtime(runtime)
        record = make_record(runtime)
        for name in SIZES:
            rows += bench_size(service, runtime, record, tmp, name, runs, segments)
        runtime.close()

    header = ["measurement", "size", "median ms", "target", ""]
    lines = [header] + [
        [
            r["measurement"],
            r["size"],
            f"{r['median_ms']:.1f}",
            "" if r["target_ms"] is None else f"<= {r['target_ms']:.0f}",
            "" if r["target_ms"] is None else ("PASS" if r["pass"] else "MISS"),
        ]
        for r in rows
    ]
    print(
        f"CPU: {cpu_model()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"c2pa-python {C2PA_VERSION}, PyAV {av.__version__}; medians of {runs} runs"
    )
    print(table(lines, right={2}))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        machine = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()}
        args.json.write_text(
            json.dumps({"machine": machine, "runs": runs, "results": rows}, indent=2)
        )
    return 0 if all(r["pass"] is not False for r in rows) else 1


def _row(measurement: str, size: str, ms: float, target: float | None = None) -> dict[str, Any]:
    return {
        "measurement": measurement,
        "size": size,
        "median_ms": round(ms, 2),
        "target_ms": target,
        "pass": None if target is None else ms <= target,
    }


if __name__ == "__main__":
    sys.exit(main())
