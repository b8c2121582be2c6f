"""The loopback cluster (deploy/cluster.py) under load: revocation-to-stop latency across
nodes, offline jobs per minute with one worker and with two, live sessions over two nodes.

- Revocations: a session streams from node B (its client reads frames from B); node A is asked
  to revoke it (``DELETE /v1/sessions/{id}``; every ``--consent-every``-th one a reviewer
  revokes the character's consent on A instead). The latency is from A's answer to the
  ``session.closed`` event on B's socket. Goal: p95 <= 1 s; PostgreSQL NOTIFY makes it ~ms.
- Jobs: ``--jobs`` offline jobs (the same 3.6 s of speech) submitted at once through HAProxy,
  rendered by one ``lpm-guard worker``, then by two; jobs per minute from the first submission
  to the last completion, split into admission (the submissions one after another, each to
  its 202: the gate and the audio check) and rendering (the last 202 to the last completion).
- Spread: live sessions opened through HAProxy, counted by the node their stream URL names.

    .venv/bin/python bench/cluster.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from lpm_guard.generator import faces as generator_faces  # noqa: E402
from report import cpu_model, progress, table  # noqa: E402

from deploy.cluster import Cluster  # noqa: E402
from lpm_guard.access.principals import Principal  # noqa: E402
from lpm_guard.access.scopes import Role  # noqa: E402
from lpm_guard.consent.faces import decode_image  # noqa: E402
from lpm_guard.settings import Settings  # noqa: E402
from tests.access.world import World  # noqa: E402
from tests.cluster.client import LiveClient  # noqa: E402
from tests.consent.conftest import insightface_images  # noqa: E402
from tests.gate.nodes import RESEARCHER_SCOPES, Node  # noqa: E402

SPEECH = "Hello, my name is Alex. Today I will tell you about the weather."


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def faces() -> list[object]:
    group = decode_image((insightface_images() / "t1.jpg").read_bytes())
    crops = []
    for face in generator_faces.detect_faces(group):
        left, top, right, bottom = face.box
        margin = int((right - left) * 0.8)
        top, left = max(0, top - margin), max(0, left - margin)
        crops.append(group[top : bottom + margin, left : right + margin].copy())
    return [crops[i] for i in (0, 1, 2, 5)]


class Bench:
    def __init__(self, cluster: Cluster, root: Path) -> None:
        self.cluster = cluster
        settings = Settings(
            data_dir=root / "nodes" / "bench",
            database_url=cluster.database_url,
            keys_dir=cluster.keys_dir,
            media_dir=cluster.media_dir,
            checkpoint_interval_s=3600,
            node_id="bench",
        )
        self.node = Node.open(settings)
        self.http = httpx.Client(base_url=cluster.url, timeout=60)
        self.world = World(self.node.access, self.http, cluster.url, self.node.runtime)
        self.photos = faces()

    def close(self) -> None:
        self.http.close()
        self.node.close()

    def researcher(self) -> tuple[str, str]:
        account = self.world.researcher(quota_s=36000.0)
        token = self.world.client_token(
            account, scope="identities:write generate:offline generate:live"
        ).json()["access_token"]
        return account.account_id, token

    def character(self, account_id: str) -> str:
        owner = Principal(account_id, RESEARCHER_SCOPES, Role.RESEARCHER)
        photo = self.photos.pop(0)
        self.photos.append(photo)  # reusable once the identity holding it is revoked
        return self.node.character(owner, photo)  # type: ignore[arg-type]

    def reviewer(self) -> str:
        return self.world.web_tokens(self.world.staff(Role.REVIEWER))["access_token"]

    # -- revocations ---------------------------------------------------------------------------

    def revocations(self, n: int, consent_every: int) -> dict[str, float]:
        a, b = self.cluster.node_url("a"), self.cluster.node_url("b")
        account, token = self.researcher()
        reviewer = self.reviewer()
        identity = self.character(account)
        latencies: list[float] = []
        consent = 0
        for i in range(n):
            live = LiveClient.open(b, token, identity).start()
            live.wait_frames(3)
            by_consent = consent_every > 0 and (i + 1) % consent_every == 0
            if by_consent:
                answer = httpx.post(
                    f"{a}/v1/consent/review/identities/{identity}/revoke",
                    json={"reason": "bench"},
                    headers={"Authorization": f"Bearer {reviewer}"},
                    timeout=30,
                )
            else:
                answer = httpx.delete(
                    f"{a}/v1/sessions/{live.session_id}",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                )
            answered = time.time()
            answer.raise_for_status()
            closed = live.wait_closed(10)
            assert closed["reason"] == "revoked", closed
            latencies.append(live.closed_at - answered)
            if by_consent:
                consent += 1
                identity = self.character(account)
        ms = [x * 1000 for x in latencies]
        return {
            "revocations": n,
            "by_consent": consent,
            "p50_ms": statistics.median(ms),
            "p95_ms": percentile(ms, 0.95),
            "max_ms": max(ms),
        }

    # -- jobs ----------------------------------------------------------------------------------

    def jobs(self, n: int, audio: Path) -> dict[str, float]:
        if not hasattr(self, "_jobs_owner"):  # one character for both runs: faces are few
            account, token = self.researcher()
            self._jobs_owner = (token, self.character(account))
        token, identity = self._jobs_owner
        auth = {"Authorization": f"Bearer {token}"}
        started = time.monotonic()
        ids = []
        answered: dict[str, float] = {}  # each job's 202, from the start
        posts = []  # each submission's own wait for its 202
        for _ in range(n):
            asked = time.monotonic()
            with audio.open("rb") as sound:
                response = self.http.post(
                    "/v1/generations",
                    data={"identity_id": identity},
                    files={"audio": ("speech.wav", sound, "audio/wav")},
                    headers=auth,
                    timeout=120,
                )
            response.raise_for_status()
            now = time.monotonic()
            posts.append(now - asked)
            ids.append(response.json()["id"])
            answered[ids[-1]] = now - started
        admitted = time.monotonic() - started
        done: dict[str, float] = {}
        pending = set(ids)
        while pending:
            for job_id in list(pending):
                view = self.http.get(f"/v1/generations/{job_id}", headers=auth).json()
                if view["status"] == "failed":
                    raise RuntimeError(f"job failed: {view}")
                if view["status"] == "succeeded":
                    pending.discard(job_id)
                    done[job_id] = time.monotonic() - started  # to the poll (0.3 s)
            time.sleep(0.3)
        elapsed = time.monotonic() - started
        return {
            "jobs": n,
            "seconds": elapsed,
            "per_minute": n / elapsed * 60,
            # Admission (the gate, the audio check: submission to 202, one after another)
            # and rendering (from the last 202 to the last completion) apart.
            "admission_s": admitted,
            "submit_p50_s": statistics.median(posts),
            "submit_max_s": max(posts),
            "rendering_s": elapsed - admitted,
            # each job from its 202 to its completion (waiting for a worker included)
            "job_p50_s": statistics.median(done[j] - answered[j] for j in ids),
        }

    # -- spread --------------------------------------------------------------------------------

    def spread(self, researchers: int) -> dict[str, int]:
        counts = dict.fromkeys(self.cluster.nodes, 0)
        opened = []
        for _ in range(researchers):
            account, token = self.researcher()
            identity = self.character(account)
            for _ in range(2):
                live = LiveClient.open(self.cluster.url, token, identity)
                holder = next(
                    n
                    for n in self.cluster.nodes
                    if live.stream_url.startswith(self.cluster.node_url(n).replace("http", "ws"))
                )
                counts[holder] += 1
                opened.append((live, token))
        for live, token in opened:
            self.http.delete(
                f"/v1/sessions/{live.session_id}", headers={"Authorization": f"Bearer {token}"}
            )
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer revocations and jobs.")
    parser.add_argument("--json", type=Path, help="Write the results here.")
    parser.add_argument("--revocations", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--consent-every", type=int, default=10)
    args = parser.parse_args()
    revocations = args.revocations or (10 if args.quick else 50)
    jobs = args.jobs or (3 if args.quick else 6)
    root = Path(tempfile.mkdtemp(prefix="lpm-bench-cluster-"))
    audio = root / "speech.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", SPEECH, "-o", str(audio)], check=True)
    results: dict[str, object] = {"cpu": cpu_model()}
    progress("starting the cluster")
    with Cluster(root, extra_env={"LPM_SIGN_IN_RATE_LIMIT": "1000/minute"}) as cluster:
        bench = Bench(cluster, root)
        try:
            progress(f"{revocations} revocations on node A of sessions streaming from node B")
            results["revocation"] = bench.revocations(revocations, args.consent_every)
            progress(f"{jobs} jobs, one worker")
            one = bench.jobs(jobs, audio)
            cluster.start_worker(2)
            time.sleep(3)
            progress(f"{jobs} jobs, two workers")
            two = bench.jobs(jobs, audio)
            results["jobs"] = {"one_worker": one, "two_workers": two,
                               "ratio": two["per_minute"] / one["per_minute"]}  # fmt: skip
            progress("live sessions through HAProxy")
            results["spread"] = bench.spread(2)
        finally:
            bench.close()
    rev = results["revocation"]
    assert isinstance(rev, dict)
    job = results["jobs"]
    assert isinstance(job, dict)
    rows = [
        ["measure", "value"],
        [f"revocation to stop, p50 ({rev['revocations']}, A -> B)", f"{rev['p50_ms']:.0f} ms"],
        ["revocation to stop, p95", f"{rev['p95_ms']:.0f} ms"],
        ["revocation to stop, max", f"{rev['max_ms']:.0f} ms"],
        ["offline jobs per minute, 1 worker", f"{job['one_worker']['per_minute']:.1f}"],
        ["offline jobs per minute, 2 workers", f"{job['two_workers']['per_minute']:.1f}"],
        ["ratio 2 workers / 1", f"{job['ratio']:.2f}"],
        *(
            [
                f"{label}: admission / rendering (s)",
                "{admission_s:.0f} / {rendering_s:.0f}".format(**job[key]),
            ]
            for key, label in (("one_worker", "1 worker"), ("two_workers", "2 workers"))
        ),
        *(
            [
                f"{label}: submission p50 / max, 202 -> done p50 (s)",
                "{submit_p50_s:.1f} / {submit_max_s:.1f}, {job_p50_s:.1f}".format(**job[key]),
            ]
            for key, label in (("one_worker", "1 worker"), ("two_workers", "2 workers"))
        ),
        ["live sessions on node a / b", "{a} / {b}".format(**results["spread"])],  # type: ignore[arg-type]
    ]
    print(f"cluster on loopback ({cpu_model()})")
    print(table(rows, right={1}))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
