"""Issue 18, M2 and M3: ``POST /v1/generations`` keeps the server responsive and its disk
bounded. Half a minute of speech is checked while ``/healthz`` is polled from another process;
a 2 GiB multipart body is cut off at the limit while it streams (counted as the app reads it),
a declared one refused unread, an anonymous one refused before a byte is read."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lpm_guard.api import create_app
from tests.access.conftest import _cheap_argon2, live_world
from tests.access.world import World

__all__ = ["_cheap_argon2", "live_world"]

GIB = 1024**3
CHUNK = b"\0" * (1024 * 1024)
BOUNDARY = "lpmguardtestboundary"
PARAGRAPH = (
    "Good morning. Today I would like to tell you about the weather in the hills, where the "
    "mornings are cool and the afternoons are warm. The farmers go out early to look at their "
    "fields, and the children walk to school along the river. In the evening the light turns "
    "golden and the birds come home to the trees beside the old stone bridge. "
)


def half_a_minute_of_speech(path: Path) -> Path:
    # flite's slt voice: about 17 s a paragraph. The check (pocketsphinx and Whisper) takes about
    # as long as the speech: long enough for a stall to show in a 20 Hz poll (two minutes of
    # speech held one test worker for 112 s).
    text = PARAGRAPH * 2
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    return path


def duration_s(path: Path) -> float:
    import wave

    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


POLL = """
import sys, time, httpx
slowest, count = 0.0, 0
with httpx.Client(base_url=sys.argv[1], timeout=120) as http:
    while not sys.stdin.closed and count < 100000:
        start = time.monotonic()
        assert http.get("/healthz").status_code == 200
        slowest = max(slowest, time.monotonic() - start)
        count += 1
        print(count, slowest, flush=True)
        time.sleep(0.05)
"""


class Poller:
    """Polls ``/healthz`` from another process (no GIL shared with the server's threads but
    the server's own) until stopped; keeps the slowest answer."""

    def __init__(self, url: str) -> None:
        self.url, self.slowest, self.count = url, 0.0, 0

    def __enter__(self) -> Poller:
        self._process = subprocess.Popen(
            [sys.executable, "-c", POLL, self.url], stdout=subprocess.PIPE, text=True
        )
        time.sleep(1.0)  # its first answers arrive before the upload starts
        return self

    def __exit__(self, *_: object) -> None:
        self._process.terminate()
        out, _ = self._process.communicate(timeout=60)
        answers = [line.split() for line in out.splitlines() if len(line.split()) == 2]
        if answers:
            self.count, self.slowest = int(answers[-1][0]), float(answers[-1][1])
        print(f"/healthz: {self.count} answers, the slowest in {self.slowest:.3f} s")


def researcher_token(world: World) -> str:
    token: str = world.web_tokens(world.researcher())["access_token"]
    return token


def test_healthz_answers_while_half_a_minute_of_speech_is_checked(
    live_world: World, tmp_path: Path
) -> None:
    world = live_world
    token = researcher_token(world)
    audio = half_a_minute_of_speech(tmp_path / "speech.wav")
    assert duration_s(audio) >= 30
    with Poller(world.issuer) as poller:
        response = world.http.post(
            "/v1/generations",
            data={"identity_id": "id_nobody_consented"},
            files={"audio": ("speech.wav", audio.read_bytes(), "audio/wav")},
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        )
    assert response.status_code == 403, response.text  # the gate: no such identity
    assert poller.count > 20
    # The bug this guards against held the loop for the whole check (/healthz 16.7 s behind
    # 105 s of speech); a free loop on 2 loaded cores (the suite's two workers, the check's
    # worker, anything else) has answered in up to 1.17 s, so 2.5 s, not 1.0.
    assert poller.slowest < 2.5, f"/healthz took {poller.slowest:.2f} s"


class Upload:
    """Drives the ASGI app with a multipart body of ``total`` bytes (one endless file part),
    counting what the app reads."""

    def __init__(self, total: int, token: str | None, *, declare: bool) -> None:
        self.total, self.token, self.declare = total, token, declare
        self.head = (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"identity_id\"\r\n\r\n"
            f"id_x\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"audio\"; "
            f"filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
        ).encode()
        self.sent = 0
        self.status: int | None = None
        self.body = b""

    async def run(self, app: Any) -> None:
        headers = [
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"host", b"127.0.0.1"),
        ]
        if self.token:
            headers.append((b"authorization", f"Bearer {self.token}".encode()))
        if self.declare:
            headers.append((b"content-length", str(self.total).encode()))
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/generations",
            "raw_path": b"/v1/generations",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("198.51.100.9", 40000),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, self.receive, self.send)

    async def receive(self) -> dict[str, Any]:
        if self.sent >= self.total:
            return {"type": "http.disconnect"}
        body = self.head if self.sent == 0 else CHUNK
        self.sent += len(body)
        return {"type": "http.request", "body": body, "more_body": self.sent < self.total}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


@pytest.fixture
def app(live_world: World) -> Any:
    assert live_world.runtime is not None
    return create_app(runtime=live_world.runtime)


def test_a_streamed_2gib_body_is_cut_off_at_the_limit(live_world: World, app: Any) -> None:
    from lpm_guard.jobs.routes import MAX_BODY_BYTES

    upload = Upload(2 * GIB, researcher_token(live_world), declare=False)
    asyncio.run(upload.run(app))
    assert upload.status == 413, upload.body
    assert b"problem" in upload.body or b"too-large" in upload.body
    assert upload.sent <= MAX_BODY_BYTES + len(CHUNK)


def test_a_declared_2gib_body_is_refused_unread(live_world: World, app: Any) -> None:
    upload = Upload(2 * GIB, researcher_token(live_world), declare=True)
    asyncio.run(upload.run(app))
    assert upload.status == 413 and upload.sent == 0


def test_an_anonymous_body_is_not_read(app: Any) -> None:
    upload = Upload(2 * GIB, None, declare=False)
    asyncio.run(upload.run(app))
    assert upload.status == 401 and upload.sent == 0
