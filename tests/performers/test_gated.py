"""The gated journey with the CPU generator in a separate `lpm-guard generator-worker` process:
an offline generation and a live session rendered over the network, the output verified
(C2PA trusted, watermark traced to the gate's allow entry, included in the audit log); and a
live session whose worker dies or stalls stops with the breach named, every frame that left
the gate watermarked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from lpm_guard.clients.live import LiveClient
from lpm_guard.live.protocol import VideoFrame
from lpm_guard.provenance.services import ProvenanceService
from lpm_guard.provenance.watermark import detect
from tests.access.conftest import serving_world
from tests.access.world import World
from tests.consent.conftest import People
from tests.gate.test_gate import audit_actions, character, open_session
from tests.generator_workers import WorkerProcess, worker_process
from tests.jobs.test_generations import speech, submit


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    with worker_process(tmp_path_factory.mktemp("gen"), capacity=2) as process:
        yield process


@pytest.fixture(scope="module")
def remote_world(
    worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The gate with no generator of its own: every frame comes from ``worker``."""
    folder = tmp_path_factory.mktemp("remote")
    secrets = folder / "workers.secrets"
    secrets.write_text(f"{worker.url} {worker.secret.decode()}\n")
    with pytest.MonkeyPatch.context() as env:  # the server and its job processes read these
        env.setenv("LPM_GENERATOR_WORKERS", worker.url)
        env.setenv("LPM_GENERATOR_WORKER_SECRETS", str(secrets))
        with serving_world(folder / "data") as world:
            yield world


def _served(worker: WorkerProcess) -> int:
    import urllib.request

    request = urllib.request.Request(
        worker.url.replace("ws", "http", 1) + "/health",
        headers={"Authorization": "Bearer " + worker.secret.decode()},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(json.loads(answer.read())["served"])


def test_an_offline_generation_rendered_by_a_worker_process_verifies(
    remote_world: World, worker: WorkerProcess, people: People, tmp_path: Path
) -> None:
    world = remote_world
    assert world.runtime is not None
    researcher = world.researcher()
    token = world.web_tokens(researcher)["access_token"]
    identity = character(world, researcher, people.t1[4], tmp_path)
    audio = speech("Hello, my name is Alex. It is sunny and warm today.", tmp_path / "s.wav")
    before = _served(worker)
    response = submit(world, token, identity, audio, instructions="smile warmly")
    assert response.status_code == 202, response.text
    job = response.json()
    auth = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 300
    while (status := world.http.get(f"/v1/generations/{job['id']}", headers=auth).json())[
        "status"
    ] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status["status"] == "succeeded", status
    assert _served(worker) == before + 1  # rendered over the network, not in the gate
    out = tmp_path / "out.mp4"
    out.write_bytes(world.http.get(f"/v1/generations/{job['id']}/video", headers=auth).content)
    report = ProvenanceService.from_runtime(world.runtime).verify_file(out)
    assert report.verdict == "authentic" and report.c2pa.status == "trusted"
    assert report.watermark.status == "present"
    assert int(str(report.watermark.reference), 16) == job["audit_index"]
    assert report.audit is not None and report.audit.status in ("included", "pending")
    actions = [e["action"] for e in audit_actions(world)]
    assert "generation:job:complete" in actions
    assert list(worker.home.iterdir()) == []  # the worker kept nothing


def _decode(frame: VideoFrame) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def test_a_live_session_rendered_by_a_worker_process_verifies(
    remote_world: World, worker: WorkerProcess, people: People, tmp_path: Path
) -> None:
    world = remote_world
    assert world.runtime is not None
    researcher = world.researcher()
    token = world.web_tokens(researcher)["access_token"]
    identity = character(world, researcher, people.t1[3], tmp_path)
    before = _served(worker)
    status, opened = open_session(world, token, identity_id=identity, instructions="smile warmly")
    assert status == 201, opened
    secret = world.runtime.keys.watermark_key().secret

    async def stream() -> tuple[list[np.ndarray], dict[str, object]]:
        frames: list[np.ndarray] = []
        async with asyncio.timeout(120), LiveClient.connect(str(opened["stream_url"])) as client:
            async for item in client:
                if isinstance(item, VideoFrame):
                    frames.append(_decode(item))
                    if len(frames) == 30:
                        await client.close()
                elif item["type"] == "session.closed":
                    return frames, item
        raise AssertionError("the stream ended without session.closed")

    frames, closed = asyncio.run(stream())
    assert closed["reason"] == "client_closed", closed
    # The worker counts the stream once its side of the connection has wound down, which may
    # come a moment after the gate has said the session closed.
    deadline = time.monotonic() + 30
    while _served(worker) < before + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _served(worker) >= before + 1
    found = detect(frames[:30], secret)
    assert found.present and found.reference == opened["audit_index"]
    session_id = str(opened["session_id"])
    directory = world.runtime.settings.data_dir / "sessions" / session_id
    deadline = time.monotonic() + 30
    while not (directory / f"{session_id}.mp4").exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    provenance = ProvenanceService.from_runtime(world.runtime)
    segments = sorted(directory.glob(f"{session_id}-*.mp4"))
    assert segments and provenance.verify_segments(segments).status == "intact"
    report = provenance.verify_file(directory / f"{session_id}.mp4")
    assert report.verdict == "authentic" and report.c2pa.status == "trusted", report
    assert report.audit is not None and report.audit.status in ("included", "pending")
    assert list(worker.home.iterdir()) == []


def test_a_job_whose_only_worker_dies_fails_cleanly(
    remote_world: World, worker: WorkerProcess, people: People, tmp_path: Path
) -> None:
    """Last in the module: it kills the worker. The job's render starts over on another
    worker; there is none left, so the job fails with the reason, keeps no file, and the
    failure is audited."""
    world = remote_world
    assert world.runtime is not None
    researcher = world.researcher()
    token = world.web_tokens(researcher)["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    identity = character(world, researcher, people.t1[4], tmp_path)
    text = "Hello, my name is Alex. Today I will tell you about the weather. It is sunny."
    response = submit(world, token, identity, speech(text, tmp_path / "s.wav"))
    assert response.status_code == 202, response.text
    job = response.json()
    deadline = time.monotonic() + 300
    while (status := world.http.get(f"/v1/generations/{job['id']}", headers=auth).json())[
        "progress"
    ] <= 0.0:
        assert status["status"] in ("queued", "running") and time.monotonic() < deadline, status
        time.sleep(0.1)
    worker.kill()
    while status["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
        status = world.http.get(f"/v1/generations/{job['id']}", headers=auth).json()
    assert status["status"] == "failed", status
    assert "the generator worker went away" in str(status["error"]), status
    assert world.http.get(f"/v1/generations/{job['id']}/video", headers=auth).status_code == 404
    failures = [e for e in audit_actions(world) if e["action"] == "generation:job:fail"]
    assert failures and failures[-1]["objects"]["job"] == job["id"]  # type: ignore[index]
    assert failures[-1]["reasons"] == ["generator_died"]
