"""The loopback cluster, run for real: two nodes behind HAProxy, one procrastinate worker,
PostgreSQL and Redis (issue 17). One cluster for the whole module; each test uses its own
researcher and its own synthetic character (a face may belong to one live identity)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from lpm_guard.access.principals import Principal
from lpm_guard.access.scopes import Role
from lpm_guard.keys import KeyStore
from tests.access.world import pkce_pair
from tests.consent.conftest import People
from tests.gate.nodes import RESEARCHER_SCOPES

from .client import LiveClient
from .conftest import SIGN_IN_LIMIT, VERIFY_LIMIT, Here

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.xdist_group("cluster")]


def character(here: Here, account_id: str, photo: object) -> str:
    owner = Principal(account_id, RESEARCHER_SCOPES, Role.RESEARCHER)
    return here.node.character(owner, photo)  # type: ignore[arg-type]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def speech(path: Path) -> Path:
    text = "Hello, my name is Alex. Today I will tell you about the weather."
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    return path


def test_a_job_submitted_through_node_a_is_rendered_by_the_worker_and_downloaded_through_b(
    here: Here, people: People, tmp_path: Path
) -> None:
    cluster = here.cluster
    account, token = here.researcher()
    identity = character(here, account.account_id, people.t1[0])
    audio = speech(tmp_path / "speech.wav")
    with audio.open("rb") as sound:
        submitted = httpx.post(
            f"{cluster.node_url('a')}/v1/generations",
            data={"identity_id": identity},
            files={"audio": ("speech.wav", sound, "audio/wav")},
            headers=bearer(token),
            timeout=120,
        )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    deadline = time.monotonic() + 240
    while True:
        view = httpx.get(
            f"{cluster.node_url('b')}/v1/generations/{job_id}", headers=bearer(token)
        ).json()
        if view["status"] in ("succeeded", "failed"):
            break
        assert time.monotonic() < deadline, view
        time.sleep(0.5)
    assert view["status"] == "succeeded", (view, cluster.tail("worker-1"))
    video = httpx.get(
        f"{cluster.node_url('b')}/v1/generations/{job_id}/video", headers=bearer(token), timeout=60
    )
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    # Rendered by the worker: its node is named on the job's completion, not a server's.
    complete = [
        e for e in here.node.runtime.audit.entries_about(job_id, action="generation:job:complete")
    ]
    assert len(complete) == 1
    # The voice is gone from the shared media directory; the signed video stays.
    folder = cluster.media_dir / "jobs" / job_id
    assert not list(folder.glob("speech.*")) and (folder / f"{job_id}.mp4").exists()


def test_a_consent_revoked_on_node_a_stops_a_session_streaming_from_node_b(
    here: Here, people: People
) -> None:
    cluster = here.cluster
    account, token = here.researcher()
    identity = character(here, account.account_id, people.t1[1])
    reviewer = here.reviewer_token()
    live = LiveClient.open(cluster.node_url("b"), token, identity)
    assert live.stream_url.startswith(cluster.node_url("b").replace("http", "ws"))
    live.start().wait_frames(10)
    revoked = httpx.post(
        f"{cluster.node_url('a')}/v1/consent/review/identities/{identity}/revoke",
        json={"reason": "the subject asked"},
        headers=bearer(reviewer),
        timeout=30,
    )
    answered = time.time()
    assert revoked.status_code == 200, revoked.text
    closed = live.wait_closed(5)
    assert closed["reason"] == "revoked"
    assert live.closed_at - answered < 1.0


def test_a_session_is_streamed_only_from_the_node_that_holds_it_and_counted_everywhere(
    here: Here, people: People
) -> None:
    cluster = here.cluster
    account, token = here.researcher()
    identity = character(here, account.account_id, people.t1[5])
    # Opened through HAProxy (any node): the stream URL names the node that holds it.
    first = LiveClient.open(cluster.url, token, identity)
    holder = next(n for n in cluster.nodes if first.stream_url.startswith(
        cluster.node_url(n).replace("http", "ws")))  # fmt: skip
    other = next(n for n in cluster.nodes if n != holder)
    # The other node does not serve it: it names the holder (close code 4409).
    wrong = LiveClient(
        first.stream_url.replace(
            cluster.node_url(holder).replace("http", "ws"),
            cluster.node_url(other).replace("http", "ws"),
        ),
        first.session_id,
    ).start()
    assert wrong.done.wait(20)
    assert wrong.close_code == 4409 and wrong.close_reason.startswith(
        cluster.node_url(holder).replace("http", "ws")
    )
    first.start().wait_frames(5)
    # The researcher's limit (2) counts sessions on every node: one more on the other node,
    # then a third anywhere is refused.
    second = LiveClient.open(cluster.node_url(other), token, identity)
    refused = httpx.post(
        f"{cluster.node_url(holder)}/v1/sessions",
        json={"identity_id": identity},
        headers=bearer(token),
        timeout=60,
    )
    assert refused.status_code == 429 and refused.json()["type"].endswith("session-limit")
    for live in (first, second):
        httpx.delete(f"{cluster.url}/v1/sessions/{live.session_id}", headers=bearer(token))
    assert first.wait_closed(5)["reason"] == "revoked"


def test_restarting_node_b_fails_none_of_node_as_work(
    here: Here, people: People, tmp_path: Path
) -> None:
    cluster = here.cluster
    account, token = here.researcher()
    identity = character(here, account.account_id, people.t1[2])
    live = LiveClient.open(cluster.node_url("a"), token, identity).start()
    live.wait_frames(5)
    audio = speech(tmp_path / "speech.wav")
    with audio.open("rb") as sound:
        job = httpx.post(
            f"{cluster.node_url('a')}/v1/generations",
            data={"identity_id": identity},
            files={"audio": ("speech.wav", sound, "audio/wav")},
            headers=bearer(token),
            timeout=120,
        ).json()
    cluster.stop("node-b")  # SIGTERM
    cluster.start_node("b")
    cluster.wait_ready("b")
    time.sleep(2 * 4)  # two leases of LPM_NODE_LEASE_S: B's recovery has run, and run again
    before = live.frames
    time.sleep(1)
    assert live.frames > before and not live.done.is_set(), live.closed
    deadline = time.monotonic() + 240
    while True:
        view = httpx.get(
            f"{cluster.node_url('b')}/v1/generations/{job['id']}", headers=bearer(token)
        ).json()
        if view["status"] in ("succeeded", "failed"):
            break
        assert time.monotonic() < deadline, view
        time.sleep(0.5)
    assert view["status"] == "succeeded", view
    httpx.delete(f"{cluster.url}/v1/sessions/{live.session_id}", headers=bearer(token))
    assert live.wait_closed(5)["reason"] == "revoked"
    cluster.wait_balanced()


def test_a_node_started_with_other_keys_refuses_to_start(here: Here, tmp_path: Path) -> None:
    cluster = here.cluster
    KeyStore.open(tmp_path / "other-keys", create=True)
    env = cluster.env("node-c", LPM_KEYS_DIR=str(tmp_path / "other-keys"))
    done = subprocess.run(
        [sys.executable, "-m", "lpm_guard", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "LPM_KEYS_DIR" in done.stderr and "key" in done.stderr


def test_rate_limits_hold_across_both_nodes_and_redis_down_is_a_503(here: Here) -> None:
    cluster = here.cluster
    # Verify: the limit holds across the two nodes (alternating), counted in Redis.
    codes = []
    for n in range(VERIFY_LIMIT + 2):
        node = cluster.nodes[n % 2]
        response = httpx.post(
            f"{cluster.node_url(node)}/v1/verify", content=b"not a video", timeout=30
        )
        codes.append(response.status_code)
    assert 429 not in codes[:VERIFY_LIMIT] and codes[VERIFY_LIMIT:] == [429, 429], codes
    # Sign-in attempts per address, right or wrong: the same, across nodes (each attempt
    # for another address, below the database's per-account failure throttle).
    statuses = []
    for n in range(SIGN_IN_LIMIT + 1):
        query = urlencode(here.world.authorize_params(pkce_pair()[1]))
        response = httpx.post(
            f"{cluster.node_url(cluster.nodes[n % 2])}/oauth/authorize?{query}",
            data={"email": f"nobody{n}@example.org", "password": "wrong"},
            timeout=30,
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert "sign-in attempts per client address" in response.text
    assert set(statuses[: statuses.index(429)]) == {401} and statuses[-1] == 429, statuses
    # Redis stopped: a clear 503 problem, nothing counted; back, and service resumes.
    cluster.stop_redis()
    try:
        down = httpx.post(f"{cluster.node_url('a')}/v1/verify", content=b"x", timeout=30)
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith("application/problem+json")
        assert "Redis" in down.json()["detail"] and down.headers["retry-after"]
    finally:
        cluster.start_redis()
    deadline = time.monotonic() + 10
    while True:
        back = httpx.post(f"{cluster.node_url('b')}/v1/verify", content=b"x", timeout=30)
        if back.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert back.status_code not in (429, 503), back.text
