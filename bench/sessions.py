"""Concurrent live sessions over loopback: how many sustain 25 fps with the voice in sync.

    python bench/sessions.py [--max 6] [--seconds 20] [--size 512x512] [--json PATH]
    python bench/sessions.py --remote [--max 1] [--runs 3] [--frames raw]   # in a generator-worker
    python bench/sessions.py --nodes 2 [--max 4]    # two server processes behind HAProxy

The server is the real one (``lpm-guard serve`` in its own process, SQLite in a temporary data
directory); every session goes through the gate (``POST /v1/sessions`` with a client-credentials
token), is watermarked, and writes its signed record. The clients run in this process, one
asyncio task pair per session over WebSocket: a sender plays the agent's voice in real time
(whole flite sentences of 1.5 to 2.5 s with 0.6 s of silence between them, in 40 ms
chunks, as a TTS stream forwards it) and a reader takes every frame.

Measured per level of concurrency (1, 2, ... sessions at once), after a warm-up:

- **fps**: frames received per second of wall time, per session (the worst session counts);
- **audio-to-frame latency**: from sending the first chunk of a burst of speech to receiving
  the first frame whose audio carries it (the server returns the voice aligned to the frames,
  so a client plays them together); p95 over every burst of every session;
- **memory per session**: the resident memory of the server and its speech check workers with
  the sessions running (the peak), less the same with none (after one warm-up session), divided
  by the number of sessions;
- the CPU use of the server and its workers over the window (100 % = one core), split into the
  server's own process (every session's render, record and network threads share its GIL) and
  its speech check workers (``--gil``: how much of the window some thread of the server's
  process held its GIL, sampled by py-spy at 100 Hz: near 100 % the process cannot go faster,
  whatever the cores); the CPU of this process (the clients) over the same window; and how
  busy the whole machine was (``/proc/stat``, every CPU: 100 % = all of them). A level that
  fails with the machine far from fully busy is held back by something other than CPU (the
  server's GIL); one that fails with it saturated by other processes says little about the code.

A level passes with the worst session at >= 24 fps and p95 latency <= 150 ms. The table ends
with the largest passing level (the issue's goal: >= 4 on a two-core machine).

``--nodes N``: the same levels on the loopback cluster (deploy/cluster.py: N ``lpm-guard serve``
processes on one PostgreSQL and Redis, HAProxy in front, round robin), as a deployment that
outgrew one process runs; each session is opened through HAProxy and streams from the node its
URL names (the spread is printed). One process's sessions share its GIL: at 3-4 sessions py-spy
found one server's GIL held most of the time while the machine had idle CPU, so N processes
are how one box gives its cores to more sessions. CPU is the nodes' summed (the database,
Redis and HAProxy are in "machine busy").

``--remote``: each level runs twice, ``--runs`` times over, on a fresh server each time: with
the CPU generator in the server (the baseline) and with it in an ``lpm-guard generator-worker``
process on loopback (the server renders nothing). The server's CPU is then the gate's own work
per session (watermark, JPEG to the client, the signed record, the speech checks, and the frame
from the worker read and decoded; goal <= 15 % of a core per 512² session at 25 fps), and the
p95 audio-to-frame latency less the baseline's is what the hop adds (goal <= 20 ms). Medians
of the runs are reported. The worker's own CPU is measured beside the gate's (on one machine
they share its cores); ``--frames raw`` sends the worker's frames as raw RGB instead of JPEG
(``LPM_GENERATOR_FRAMES``: no encode in the worker, no decode in the gate).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
from lpm_guard.generator import load_audio
from websockets.exceptions import ConnectionClosed

from lpm_guard.access.models import IntendedUse
from lpm_guard.api import create_app
from lpm_guard.clients.live import LiveClient
from lpm_guard.consent.models import Use
from lpm_guard.consent.services import ConsentService
from lpm_guard.consent.settings import ConsentSettings
from lpm_guard.live.protocol import AUDIO_RATE, VideoFrame
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))  # tests.consent: the live consent capture
from accounts import approved_researcher
from report import cpu_model, progress, table

from tests import mailbox
from tests.consent.consenting import consent_person

CHUNK = AUDIO_RATE // 25  # 40 ms of voice per message
GAP_S = 0.6  # silence between the agent's sentences
SENTENCES = (
    "Papa made a palm basket by the beach.",
    "We ate apples in the shade.",
    "The weather was fine all afternoon.",
    "Thank you for calling, how can I help?",
    "Your order will arrive on Monday morning.",
)
SILENT_RMS = 200.0  # PCM16 units: the returned audio of a frame with no voice is all zeros
FPS_GOAL, LATENCY_GOAL_MS = 24.0, 150.0


@dataclass
class Level:
    sessions: int
    fps_worst: float
    fps_median: float
    latency_p50_ms: float
    latency_p95_ms: float
    bursts: int
    frames_missing: int  # index gaps: frames the server dropped for a slow reader
    server_cpu_pct: float
    rss_per_session_mib: float
    passed: bool
    server_process_cpu_pct: float = 0.0  # the server's own process (render, record, network)
    checks_cpu_pct: float = 0.0  # its speech check workers
    worker_cpu_pct: float = 0.0  # --remote: the generator-workers rendering the frames
    gil_held_pct: float | None = None  # --gil: share of py-spy's samples with the GIL held
    client_cpu_pct: float = 0.0  # this process: the clients
    machine_busy_pct: float = 0.0  # every CPU of the machine, anyone's work (100 % = all)
    per_session_fps: list[float] = field(default_factory=list)
    streams_per_server: dict[str, int] = field(default_factory=dict)  # host:port -> sessions


# --- the world: a researcher, a consented identity, a server -------------------------------------


def flite(text: str, path: Path) -> Path:
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    return path


def prepare(settings: Settings, folder: Path) -> tuple[str, str, str]:
    """A researcher approved for live use, an API client, and the astronaut's consent."""
    from skimage import data

    runtime = Runtime.open(settings)
    try:
        access = create_app(runtime=runtime).state.access
        researcher = approved_researcher(
            access,
            "Measuring how many live portrait sessions one server sustains.",
            [IntendedUse.LIVE],
            daily_quota_s=86_400.0,
        )
        principal = researcher.principal
        photo = data.astronaut()
        # The person consents the whole way: mailed invitation, live capture, reviewer.
        with mailbox.smtp_server() as box:
            consent = ConsentService(runtime, ConsentSettings(**box.settings()))
            identity = consent_person(
                consent, box, principal, enrolled=photo, live=photo, cache=folder, uses=[Use.LIVE]
            )
        return researcher.client_id, researcher.client_secret, identity.identity_id
    finally:
        runtime.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_worker(
    folder: Path, env: dict[str, str], n: int = 0
) -> tuple[subprocess.Popen[str], str, str]:
    """`lpm-guard generator-worker` on a free port: the process, its URL and its secret."""
    secret = folder / f"worker{n}.secret"
    secret.write_text(os.urandom(24).hex())
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("lpm-guard")), "generator-worker", "--port", "0",
         "--capacity", "16", "--secret-file", str(secret)],
        env={k: v for k, v in env.items() if not k.startswith("LPM_")},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert worker.stdout is not None
    for line in worker.stdout:
        if "listening on" in line:
            url = line.split("listening on ", 1)[1].strip()
            return worker, url, secret.read_text()
    raise SystemExit("the generator worker did not start")


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("lpm-guard")), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    server.kill()
    raise SystemExit("the server did not start within 60 s")


def tree(pid: int) -> list[int]:
    """The server and its descendants (the speech check workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def rss_mib(pid: int) -> float:
    """Resident memory of the server and its workers (MiB)."""
    total = 0.0
    for member in tree(pid):
        try:
            with open(f"/proc/{member}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def cpu_seconds(pid: int, *, alone: bool = False) -> float:
    """CPU time of the server and its workers so far (``alone``: of the server's process only)."""
    total = 0.0
    for member in [pid] if alone else tree(pid):
        try:
            with open(f"/proc/{member}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def cpu_of(pids: tuple[int, ...], *, alone: bool = False) -> float:
    return sum(cpu_seconds(p, alone=alone) for p in pids)


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every CPU so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return float(total - idle), float(total)


GIL_RATE = 100  # py-spy samples a second


def start_spy(pid: int, seconds: int) -> tuple[subprocess.Popen[bytes], Path]:
    """py-spy on the server's process for ``seconds``, keeping only samples where some thread
    holds the GIL (it drops the rest)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = Path(tempfile.mkdtemp(prefix="bench-gil-")) / "gil.txt"
    command = [spy, "record", "--pid", str(pid), "--gil", "--nonblocking", "--format", "raw",
               "--rate", str(GIL_RATE), "--duration", str(seconds), "-o", str(out)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def spy_result(spy: subprocess.Popen[bytes], out: Path, seconds: int) -> float | None:
    """The share of the window (%) in which a thread of the process held the GIL."""
    spy.wait(seconds + 30)
    if not out.exists():
        return None
    held = sum(int(line.rsplit(" ", 1)[1]) for line in out.read_text().splitlines() if line)
    shutil.rmtree(out.parent, ignore_errors=True)
    return 100.0 * held / (GIL_RATE * seconds)


# --- one session's client ------------------------------------------------------------------------


@dataclass
class Measured:
    arrivals: list[float] = field(default_factory=list)  # of frames, in the window
    indices: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    closed: str = ""  # the reason in session.closed


async def run_client(
    url: str,
    voices: list[np.ndarray],
    start: float,
    window: tuple[float, float],
    stop: float,
) -> Measured:
    measured = Measured()
    onsets: list[float] = []  # send times of bursts not yet seen in a frame
    bursts = [np.clip(v * 32767, -32768, 32767).astype("<i2") for v in voices]

    async with LiveClient.connect(url) as client:

        async def send() -> None:
            at = start + 1.0  # let the stream settle first
            with contextlib.suppress(ConnectionClosed):  # the server ended it: reported below
                for burst in itertools.cycle(bursts):
                    length = len(burst) / AUDIO_RATE
                    if at + length > stop - 0.5:
                        break
                    await asyncio.sleep(max(0.0, at - time.monotonic()))
                    onsets.append(time.monotonic())
                    for n, offset in enumerate(range(0, len(burst), CHUNK)):
                        due = at + n * CHUNK / AUDIO_RATE
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                        await client.speak(burst[offset : offset + CHUNK].tobytes())
                    at += length + GAP_S
                await asyncio.sleep(max(0.0, stop - time.monotonic()))
                await client.close()

        sender = asyncio.create_task(send())
        silent_before = True
        async for item in client:
            now = time.monotonic()
            if not isinstance(item, VideoFrame):
                if item["type"] == "session.closed":
                    measured.closed = f"{item['reason']}: {item.get('detail', '')}"
                    break
                continue
            if window[0] <= now < window[1]:
                measured.arrivals.append(now)
                measured.indices.append(item.index)
            samples = np.frombuffer(item.audio, "<i2").astype(np.float32)
            voiced = len(samples) > 0 and float(np.sqrt(np.mean(samples**2))) > SILENT_RMS
            if voiced and silent_before and onsets:
                sent = onsets.pop(0)
                if window[0] <= sent < window[1]:
                    measured.latencies_ms.append((now - sent) * 1000.0)
            silent_before = not voiced
        await sender
    return measured


# --- one level -----------------------------------------------------------------------------------


def open_sessions(
    http: httpx.Client, token: str, identity: str, count: int, size: str
) -> list[str]:
    urls = []
    for _ in range(count):
        response = http.post(
            "/v1/sessions",
            json={"identity_id": identity, "size": size, "fps": 25},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        urls.append(str(response.json()["stream_url"]))
    return urls


def run_level(
    count: int,
    *,
    http: httpx.Client,
    token: str,
    identity: str,
    voices: list[np.ndarray],
    size: str,
    seconds: float,
    pid: int | tuple[int, ...],
    idle_rss: float,
    workers: tuple[int, ...] = (),
    gil: bool = False,
) -> Level:
    """``pid``: the server, or every node's server (``--nodes``: their CPU and memory summed,
    "the server's own process" then meaning each node's)."""
    pids = pid if isinstance(pid, tuple) else (pid,)
    urls = open_sessions(http, token, identity, count, size)
    start = time.monotonic()
    warm = 3.0
    window = (start + warm, start + warm + seconds)
    stop = window[1] + 0.5
    samples: dict[str, float] = {}

    async def sample_server() -> None:
        await asyncio.sleep(warm)
        samples["cpu0"], samples["t0"] = cpu_of(pids), time.monotonic()
        samples["own0"], samples["client0"] = cpu_of(pids, alone=True), time.process_time()
        samples["busy0"], samples["all0"] = machine_busy()
        samples["worker0"] = sum(cpu_seconds(w) for w in workers)
        spy = start_spy(pids[0], int(seconds)) if gil else None
        peak = 0.0
        while time.monotonic() < window[1]:
            peak = max(peak, sum(rss_mib(p) for p in pids))
            await asyncio.sleep(0.5)
        samples["cpu1"], samples["t1"] = cpu_of(pids), time.monotonic()
        samples["own1"], samples["client1"] = cpu_of(pids, alone=True), time.process_time()
        samples["busy1"], samples["all1"] = machine_busy()
        samples["worker1"] = sum(cpu_seconds(w) for w in workers)
        samples["rss"] = peak
        if spy is not None:
            samples["gil"] = await asyncio.to_thread(spy_result, *spy, int(seconds))

    async def main() -> list[Measured]:
        clients = [run_client(url, voices, start, window, stop) for url in urls]
        results = await asyncio.gather(sample_server(), *clients)
        return list(results[1:])  # type: ignore[arg-type]

    measured = asyncio.run(main())
    for m in measured:
        if not m.closed.startswith("client_closed"):
            progress(f"  a session ended early: {m.closed or 'without session.closed'}")
    span = window[1] - window[0]
    fps = [len(m.arrivals) / span for m in measured]
    latencies = [v for m in measured for v in m.latencies_ms]
    missing = sum(int(np.sum(np.diff(m.indices) - 1)) for m in measured if len(m.indices) > 1)
    elapsed = samples["t1"] - samples["t0"]
    cpu = 100.0 * (samples["cpu1"] - samples["cpu0"]) / elapsed
    own = 100.0 * (samples["own1"] - samples["own0"]) / elapsed
    client = 100.0 * (samples["client1"] - samples["client0"]) / elapsed
    busy = (
        100.0 * (samples["busy1"] - samples["busy0"]) / max(1.0, samples["all1"] - samples["all0"])
    )
    p95 = float(np.percentile(latencies, 95)) if latencies else float("inf")
    worst = min(fps)
    return Level(
        sessions=count,
        fps_worst=worst,
        fps_median=float(np.median(fps)),
        latency_p50_ms=float(np.percentile(latencies, 50)) if latencies else float("inf"),
        latency_p95_ms=p95,
        bursts=len(latencies),
        frames_missing=missing,
        server_cpu_pct=cpu,
        rss_per_session_mib=(samples["rss"] - idle_rss) / count,
        passed=worst >= FPS_GOAL and p95 <= LATENCY_GOAL_MS,
        server_process_cpu_pct=own,
        checks_cpu_pct=cpu - own,
        client_cpu_pct=client,
        machine_busy_pct=busy,
        worker_cpu_pct=100.0 * (samples["worker1"] - samples["worker0"]) / elapsed,
        gil_held_pct=samples.get("gil"),
        per_session_fps=[round(v, 2) for v in fps],
        streams_per_server=dict(Counter(urlsplit(url).netloc for url in urls)),
    )


def flite_voices(folder: Path) -> list[np.ndarray]:
    voices = []
    for n, sentence in enumerate(SENTENCES):
        voice = load_audio(flite(sentence, folder / f"voice{n}.wav"), AUDIO_RATE)
        loud = np.flatnonzero(np.abs(voice) > 0.05)
        voices.append(voice[loud[0] : loud[-1] + 1])  # each burst starts with sound
    return voices


def levels_on(
    args: argparse.Namespace,
    http: httpx.Client,
    token: str,
    identity: str,
    voices: list[np.ndarray],
    pids: tuple[int, ...],
) -> list[Level]:
    """A warm-up session, then each level from ``--min`` sessions to ``--max``."""
    common = dict(http=http, token=token, identity=identity, voices=voices, size=args.size)
    progress("warm-up: one session for 5 s")
    run_level(1, seconds=5.0, pid=pids, idle_rss=0.0, **common)
    time.sleep(1.0)
    idle_rss = sum(rss_mib(p) for p in pids)
    levels: list[Level] = []
    for count in range(args.min, args.max + 1):
        progress(f"{count} session(s) for {args.seconds:.0f} s")
        level = run_level(
            count,
            seconds=args.seconds,
            pid=pids,
            idle_rss=idle_rss,
            gil=args.gil,
            **common,
        )
        levels.append(level)
        spread = " / ".join(str(n) for n in level.streams_per_server.values())
        progress(
            f"  worst {level.fps_worst:.1f} fps, p95 {level.latency_p95_ms:.0f} ms "
            f"(sessions per server: {spread})"
        )
        time.sleep(1.0)
        if not level.passed and not args.keep_going:
            break
    return levels


def on_one_server(args: argparse.Namespace) -> list[Level]:
    """One ``lpm-guard serve`` process on SQLite: every session's render, record and network
    threads share its GIL."""
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tmp:
        folder = Path(tmp)
        port = free_port()
        env = {
            **os.environ,
            "LPM_DATA_DIR": str(folder / "data"),
            "LPM_LOG_LEVEL": "WARNING",
            "LPM_CHECKPOINT_INTERVAL_S": "60",
            "LPM_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LPM_LIVE_SESSIONS_PER_RESEARCHER": str(args.max),
            "LPM_LIVE_SESSIONS_PER_PROCESS": str(args.max),
        }
        settings = Settings(
            data_dir=folder / "data",
            public_url=env["LPM_PUBLIC_URL"],
            live_sessions_per_researcher=args.max,
            live_sessions_per_process=args.max,
        )
        progress("enrolling a researcher and a consented identity")
        client_id, client_secret, identity = prepare(settings, folder)
        voices = flite_voices(folder)
        progress("starting the server")
        server = start_server(env, port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                token = http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials", "scope": "generate:live"},
                    auth=(client_id, client_secret),
                ).json()["access_token"]
                return levels_on(args, http, token, identity, voices, (server.pid,))
        finally:
            server.terminate()
            server.wait(20)


def on_nodes(args: argparse.Namespace) -> list[Level]:
    """The loopback cluster (deploy/cluster.py): ``--nodes`` ``lpm-guard serve`` processes on
    one PostgreSQL and Redis, every session opened through HAProxy (round robin), as a
    deployment that outgrew one process runs; their CPU is summed (PostgreSQL, Redis and
    HAProxy count in "machine busy")."""
    from cluster import Bench  # bench/cluster.py: its researcher and consented character

    from deploy.cluster import Cluster

    with tempfile.TemporaryDirectory(
        prefix="bench-sessions-nodes-", ignore_cleanup_errors=True
    ) as tmp:
        root = Path(tmp)
        names = tuple("abcdefgh"[: args.nodes])
        limits = {
            "LPM_LIVE_SESSIONS_PER_RESEARCHER": str(args.max),
            "LPM_LIVE_SESSIONS_PER_PROCESS": str(args.max),
            "LPM_CHECKPOINT_INTERVAL_S": "60",
        }
        progress(f"starting the cluster: {args.nodes} nodes, PostgreSQL, Redis, HAProxy")
        with Cluster(root, nodes=names, workers=0, extra_env=limits) as cluster:
            bench = Bench(cluster, root)
            try:
                account, token = bench.researcher()
                identity = bench.character(account)
                voices = flite_voices(root)
                pids = tuple(
                    process.popen.pid
                    for name, process in cluster.processes.items()
                    if name.startswith("node-") and process.popen is not None
                )
                return levels_on(args, bench.http, token, identity, voices, pids)
            finally:
                bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--max", type=int, default=6, help="most sessions at once")
    parser.add_argument("--min", type=int, default=1, help="fewest sessions at once")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per level")
    parser.add_argument("--size", default="512x512", choices=["512x512", "1280x720"])
    parser.add_argument("--keep-going", action="store_true", help="run every level up to --max")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--remote", action="store_true", help="compare rendering in a generator-worker process"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per mode with --remote")
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="serve from this many processes of the loopback cluster behind HAProxy",
    )
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample the server's GIL with py-spy (pip install py-spy)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="--remote: generator-worker processes"
    )
    parser.add_argument(
        "--frames", default="jpeg", choices=["jpeg", "raw"], help="--remote: the worker's frames"
    )
    args = parser.parse_args()
    if args.gil and not (
        shutil.which("py-spy") or Path(sys.executable).with_name("py-spy").exists()
    ):
        raise SystemExit("--gil needs py-spy beside this Python: pip install py-spy")
    if args.gil and args.nodes > 1:
        raise SystemExit("--gil samples one server process: leave --nodes at 1")
    if args.remote:
        remote_main(args)
        return

    levels = on_nodes(args) if args.nodes > 1 else on_one_server(args)
    rows = [
        [
            "sessions",
            "fps worst",
            "fps median",
            "latency p50",
            "latency p95",
            "bursts",
            "frames dropped",
            "server CPU",
            "RSS/session",
            "pass",
        ]
    ]
    for level in levels:
        rows.append(
            [
                str(level.sessions),
                f"{level.fps_worst:.2f}",
                f"{level.fps_median:.2f}",
                f"{level.latency_p50_ms:.0f} ms",
                f"{level.latency_p95_ms:.0f} ms",
                str(level.bursts),
                str(level.frames_missing),
                f"{level.server_cpu_pct:.0f} %",
                f"{level.rss_per_session_mib:.1f} MiB",
                "PASS" if level.passed else "FAIL",
            ]
        )
    best = max((level.sessions for level in levels if level.passed), default=0)
    print(
        f"# Live sessions at {args.size}, 25 fps, over loopback ({cpu_model()}, "
        f"{os.cpu_count()} CPUs), "
        + (f"{args.nodes} server processes behind HAProxy" if args.nodes > 1 else "one server")
    )
    print(table(rows, right=set(range(1, 9))))
    print(
        f"\nlargest number of sessions with every one >= {FPS_GOAL:.0f} fps and p95 "
        f"audio-to-frame <= {LATENCY_GOAL_MS:.0f} ms: {best} (goal >= 4)"
    )
    cpu_rows = [
        [
            "sessions",
            "server CPU",
            "its process",
            "speech checks",
            "per session",
            "clients (this process)",
            "machine busy",
            *(["GIL held"] if args.gil else []),
        ]
    ]
    for level in levels:
        cpu_rows.append(
            [
                str(level.sessions),
                f"{level.server_cpu_pct:.0f} %",
                f"{level.server_process_cpu_pct:.0f} %",
                f"{level.checks_cpu_pct:.0f} %",
                f"{level.server_cpu_pct / level.sessions:.1f} %",
                f"{level.client_cpu_pct:.0f} %",
                f"{level.machine_busy_pct:.0f} %",
                *(
                    [f"{level.gil_held_pct:.0f} %" if level.gil_held_pct is not None else "-"]
                    if args.gil
                    else []
                ),
            ]
        )
    print(
        "\nCPU over the window (100 % = one core; machine busy: 100 % = every CPU, anyone's work)"
    )
    print(table(cpu_rows, right=set(range(1, 8))))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "size": args.size,
                    "cpu": cpu_model(),
                    "cpus": os.cpu_count(),
                    "seconds": args.seconds,
                    "nodes": args.nodes,
                    "largest_passing": best,
                    "levels": [asdict(level) for level in levels],
                },
                indent=2,
            )
        )


def measure(
    args: argparse.Namespace,
    folder: Path,
    env: dict[str, str],
    port: int,
    ids: tuple[str, ...],
    workers: tuple[int, ...] = (),
) -> list[Level]:
    """One server (and its levels) on ``env``."""
    client_id, client_secret, identity = ids
    voices = []
    for n, sentence in enumerate(SENTENCES):
        voice = load_audio(flite(sentence, folder / f"voice{n}.wav"), AUDIO_RATE)
        loud = np.flatnonzero(np.abs(voice) > 0.05)
        voices.append(voice[loud[0] : loud[-1] + 1])
    server = start_server(env, port)
    levels: list[Level] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            token = http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": "generate:live"},
                auth=(client_id, client_secret),
            ).json()["access_token"]
            common = dict(http=http, token=token, identity=identity, voices=voices, size=args.size)
            run_level(1, seconds=5.0, pid=server.pid, idle_rss=0.0, **common)  # type: ignore[arg-type]
            time.sleep(1.0)
            idle_rss = rss_mib(server.pid)
            for count in range(args.min, args.max + 1):
                level = run_level(
                    count,
                    seconds=args.seconds,
                    pid=server.pid,
                    idle_rss=idle_rss,
                    workers=workers,
                    **common,  # type: ignore[arg-type]
                )
                levels.append(level)
                time.sleep(1.0)
    finally:
        server.terminate()
        server.wait(20)
    return levels


def hop_latency(frames: int = 250) -> dict[str, float]:
    """The hop alone, on loopback: a 512² frame encoded as the worker does (JPEG q95), sent
    over WebSocket every 40 ms, read and decoded as the gate does; sender and reader in this
    process (one clock). Rendering is not in it."""
    import threading

    import cv2
    from skimage import data
    from websockets.asyncio.server import serve
    from websockets.sync.client import connect

    from lpm_guard.performers import wire
    from lpm_guard.performers.protocol import PerformedFrame

    image = cv2.resize(data.astronaut(), (512, 512))
    sent: dict[int, float] = {}
    bound: list[int] = []
    ready = threading.Event()

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        for index in range(frames):
            sent[index] = time.perf_counter()
            await ws.send(wire.frame(PerformedFrame(index, index / 25, image, "idle"), wire.JPEG))
            await asyncio.sleep(0.04)
        await ws.close()

    async def serving() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
            bound.append(next(iter(server.sockets)).getsockname()[1])
            ready.set()
            await asyncio.sleep(frames * 0.04 + 10)

    threading.Thread(target=lambda: asyncio.run(serving()), daemon=True).start()
    ready.wait(20)
    hop, decode = [], []
    with (
        connect(f"ws://127.0.0.1:{bound[0]}", compression=None, max_size=None) as ws,
        contextlib.suppress(ConnectionClosed),
    ):
        while True:
            message = ws.recv()
            assert isinstance(message, bytes)
            header = wire.frame_header(message)
            began = time.perf_counter()
            wire.picture(message, header, (512, 512))
            done = time.perf_counter()
            hop.append((done - sent[header.index]) * 1000)
            decode.append((done - began) * 1000)
    return {
        "hop_p50_ms": float(np.percentile(hop[10:], 50)),
        "hop_p95_ms": float(np.percentile(hop[10:], 95)),
        "decode_p50_ms": float(np.percentile(decode[10:], 50)),
    }


def remote_main(args: argparse.Namespace) -> None:
    results: dict[str, list[list[Level]]] = {"in process": [], "remote": []}
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tmp:
        folder = Path(tmp)
        port = free_port()
        env = {
            **os.environ,
            "LPM_DATA_DIR": str(folder / "data"),
            "LPM_LOG_LEVEL": "WARNING",
            "LPM_CHECKPOINT_INTERVAL_S": "60",
            "LPM_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LPM_LIVE_SESSIONS_PER_RESEARCHER": str(args.max),
            "LPM_LIVE_SESSIONS_PER_PROCESS": str(args.max),
        }
        settings = Settings(
            data_dir=folder / "data",
            public_url=env["LPM_PUBLIC_URL"],
            live_sessions_per_researcher=args.max,
            live_sessions_per_process=args.max,
        )
        progress("enrolling a researcher and a consented identity")
        ids = prepare(settings, folder)
        started = [start_worker(folder, env, n) for n in range(args.workers)]
        workers = [worker for worker, _, _ in started]
        secrets = folder / "workers.secrets"
        secrets.write_text("".join(f"{url} {secret}\n" for _, url, secret in started))
        remote_env = {
            **env,
            "LPM_GENERATOR_WORKERS": ",".join(url for _, url, _ in started),
            "LPM_GENERATOR_WORKER_SECRETS": str(secrets),
            "LPM_GENERATOR_FRAMES": args.frames,
        }
        try:
            for run in range(args.runs):
                for mode, mode_env in (("in process", env), ("remote", remote_env)):
                    progress(f"run {run + 1}/{args.runs}: rendering {mode}")
                    used = tuple(w.pid for w in workers) if mode == "remote" else ()
                    results[mode].append(measure(args, folder, mode_env, port, ids, used))
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(20)
    rows = [
        [
            "sessions",
            "rendering",
            "fps worst",
            "latency p95",
            "added p95",
            "gate CPU/session",
            "worker CPU/session",
            "all CPU/session",
        ]
    ]
    summary = []
    for count in range(args.min, args.max + 1):
        k = count - args.min
        med = {
            mode: {
                "fps_worst": float(np.median([r[k].fps_worst for r in runs])),
                "latency_p95_ms": float(np.median([r[k].latency_p95_ms for r in runs])),
                "cpu_per_session_pct": float(
                    np.median([r[k].server_cpu_pct / count for r in runs])
                ),
                "worker_cpu_per_session_pct": float(
                    np.median([r[k].worker_cpu_pct / count for r in runs])
                ),
                "all_cpu_per_session_pct": float(
                    np.median([(r[k].server_cpu_pct + r[k].worker_cpu_pct) / count for r in runs])
                ),
            }
            for mode, runs in results.items()
        }
        added = med["remote"]["latency_p95_ms"] - med["in process"]["latency_p95_ms"]
        for mode in results:
            rows.append(
                [
                    str(count),
                    mode,
                    f"{med[mode]['fps_worst']:.2f}",
                    f"{med[mode]['latency_p95_ms']:.0f} ms",
                    f"{added:+.0f} ms" if mode == "remote" else "",
                    f"{med[mode]['cpu_per_session_pct']:.0f} %",
                    f"{med[mode]['worker_cpu_per_session_pct']:.0f} %" if mode == "remote" else "",
                    f"{med[mode]['all_cpu_per_session_pct']:.0f} %",
                ]
            )
        summary.append({"sessions": count, "added_p95_ms": added, **{m: v for m, v in med.items()}})
    print(
        f"# Live sessions at {args.size}, 25 fps: rendering in the server or in a "
        f"generator-worker on loopback ({args.frames} frames); medians of {args.runs} runs "
        f"({cpu_model()}, "
        f"{os.cpu_count()} CPUs)"
    )
    print(table(rows, right={2, 3, 4, 5, 6, 7}))
    hop = hop_latency()
    print(
        f"\nthe hop alone (worker's JPEG q95, loopback WebSocket, the gate's decode): "
        f"p50 {hop['hop_p50_ms']:.1f} ms, p95 {hop['hop_p95_ms']:.1f} ms; "
        f"the gate's decode {hop['decode_p50_ms']:.1f} ms a frame"
    )
    print("\ngoals: gate CPU <= 15 % of a core per 512² session (remote); added p95 <= 20 ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "size": args.size,
                    "cpu": cpu_model(),
                    "runs": args.runs,
                    "seconds": args.seconds,
                    "levels": summary,
                    "hop": hop,
                    "raw": {
                        m: [[asdict(v) for v in r] for r in runs] for m, runs in results.items()
                    },
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
