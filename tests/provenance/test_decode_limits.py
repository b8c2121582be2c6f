"""Issue 18, H1: ``POST /v1/verify`` bounds what it decodes before decoding it. Videos whose
frames are far larger than their files are refused from their stated size; a stream that
understates its size is stopped by FFmpeg's own cap; the frames held for the watermark follow
a pixel budget; and verifications past the workers and their queue are refused at once.
(Peak memory on the same clips: ``bench/verify_memory.py``.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lpm_guard.api import create_app
from lpm_guard.provenance._media import DecodeLimits, open_video
from lpm_guard.provenance.errors import FrameTooLarge, UnreadableVideo
from lpm_guard.provenance.services import BoundedDetector, ProvenanceService
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.provenance.conftest import HEIGHT, WIDTH
from tests.provenance.oversized import flat_h264, mjpeg

PROBLEM = "application/problem+json"
SECRET = b"k" * 32


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        checkpoint_interval_s=3600,
        log_json=True,
        verify_rate_limit="50/minute",
        verify_workers=1,
    )


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime=runtime)


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def post(http: TestClient, path: Path) -> Any:
    return http.post("/v1/verify", content=path.read_bytes(), headers={"Content-Type": "video/mp4"})


def test_a_15kb_h264_clip_of_2048_square_frames_is_refused_from_its_stated_size(
    http: TestClient, tmp_path: Path
) -> None:
    clip = flat_h264(tmp_path / "big.mp4", 2048, 50)
    assert clip.stat().st_size < 64 * 1024
    response = post(http, clip)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "urn:lpm-guard:problem:frame-too-large"
    assert "2048x2048" in body["detail"] and "2088960" in body["detail"]


def test_mjpeg_of_4096_square_frames_is_refused(http: TestClient, tmp_path: Path) -> None:
    clip = mjpeg(tmp_path / "big.mp4", [4096] * 3)
    response = post(http, clip)
    # FFmpeg will not allocate the first frame even to learn its size: a 422 that says so.
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "within the limit of 2088960 pixels" in response.json()["detail"]


def test_a_container_that_understates_the_frame_size_is_refused(
    http: TestClient, tmp_path: Path
) -> None:
    clip = mjpeg(tmp_path / "liar.avi", [4096, 4096], stated=64, container_format="avi")
    response = post(http, clip)
    assert response.status_code == 422, response.text
    assert "frame size cannot be read" in response.json()["detail"]


def test_frames_that_grow_after_the_first_are_not_decoded_past_the_cap(tmp_path: Path) -> None:
    past_cap = mjpeg(tmp_path / "grows.avi", [64, 4096], container_format="avi")
    with open_video(past_cap) as video, pytest.raises(UnreadableVideo, match="2088960 pixels"):
        list(video.frames())
    within_cap = mjpeg(tmp_path / "changes.avi", [64, 1024, 1024], container_format="avi")
    with open_video(within_cap) as video, pytest.raises(UnreadableVideo, match="changes"):
        list(video.frames())


def test_the_verification_report_refuses_a_growing_stream(
    runtime: Runtime, tmp_path: Path
) -> None:
    """The detector's refusal of a growing stream reaches the report, not a 500."""
    service = ProvenanceService.from_runtime(runtime)
    clip = mjpeg(tmp_path / "grows.avi", [64, 1024, 1024], container_format="avi")
    report = service.verify_file(clip)
    assert report.watermark.status == "unavailable"
    changed = "the frame size changes from 64x64 to 1024x1024 within the video"
    assert report.watermark.error == changed


def test_the_frames_held_for_the_watermark_follow_the_pixel_budget(
    service: ProvenanceService, unsigned: Path
) -> None:
    pixels = WIDTH * HEIGHT
    for budget, held in [(7 * pixels + 5, 7), (pixels // 2, 1), (10**9, 25)]:
        detector = BoundedDetector(DecodeLimits(max_held_pixels=budget))
        assert detector(unsigned, [SECRET]).frames_used == held
    tight = BoundedDetector(DecodeLimits(max_frame_pixels=pixels - 1))
    bounded = ProvenanceService(service.keys, service.audit, tight, limits=tight.limits)
    with pytest.raises(FrameTooLarge, match=f"{WIDTH}x{HEIGHT} pixels are over the limit"):
        bounded.verify_file(unsigned)


class Stalled:
    """A verification whose upload never finishes (until ``release``)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.gate = asyncio.Event()
        self.status: int | None = None
        self.headers: dict[bytes, bytes] = {}

    async def run(self, app: FastAPI) -> None:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/verify",
            "raw_path": b"/v1/verify",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", b"video/mp4"), (b"host", b"testserver")],
            "client": (self.address, 40000),
            "server": ("testserver", 80),
        }
        await app(scope, self.receive, self.send)

    async def receive(self) -> dict[str, Any]:
        await self.gate.wait()
        return {"type": "http.request", "body": b"not a video", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = dict(message["headers"])


def test_verifications_past_the_workers_and_their_queue_are_refused_at_once(
    app: FastAPI,
) -> None:
    """One worker: one verification decoding and one waiting; a third gets 503 and
    Retry-After while they hold, and is admitted once they are done."""

    async def scenario() -> list[int | None]:
        async with app.router.lifespan_context(app):
            held = [Stalled(f"198.51.100.{i}") for i in (1, 2)]
            tasks = [asyncio.create_task(s.run(app)) for s in held]
            for _ in range(500):  # until both are admitted (their rate check runs in a thread)
                limits = getattr(app.state, "verify_limits", None)
                if limits is not None and limits.admitted == 2:
                    break
                await asyncio.sleep(0.02)
            third = Stalled("198.51.100.3")
            third.gate.set()
            await asyncio.wait_for(third.run(app), 5)
            assert third.headers.get(b"retry-after") == b"5"
            for s in held:
                s.gate.set()
            await asyncio.gather(*tasks)
            fourth = Stalled("198.51.100.4")
            fourth.gate.set()
            await fourth.run(app)
            return [third.status, *(s.status for s in held), fourth.status]

    assert asyncio.run(scenario()) == [503, 415, 415, 415]
