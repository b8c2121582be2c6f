"""A live session's client, as a browser would be: open through any node, stream from the node
the answer names, note when ``session.closed`` arrives."""

from __future__ import annotations

import json
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect


@dataclass
class LiveClient:
    stream_url: str
    session_id: str
    frames: int = 0
    closed: dict[str, Any] | None = None
    closed_at: float = 0.0  # time.time() when session.closed arrived
    close_code: int | None = None
    close_reason: str = ""
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @classmethod
    def open(cls, base: str, token: str, identity: str, fps: int = 25) -> LiveClient:
        response = httpx.post(
            f"{base}/v1/sessions",
            json={"identity_id": identity, "size": "512x512", "fps": fps},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return cls(body["stream_url"], body["session_id"])

    def start(self) -> LiveClient:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            with connect(self.stream_url, max_size=None, open_timeout=30) as ws:
                try:
                    for message in ws:
                        if isinstance(message, bytes):
                            self.frames += 1
                            continue
                        event = json.loads(message)
                        if event["type"] == "session.closed":
                            self.closed, self.closed_at = event, time.time()
                finally:
                    self.close_code = ws.close_code
                    self.close_reason = ws.close_reason or ""
        except Exception:  # the server closed it: the code and reason say why
            pass
        finally:
            self.done.set()

    def wait_frames(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.frames < n:
            assert not self.done.is_set(), f"the session ended: {self.closed} {self.close_code}"
            assert time.monotonic() < deadline, "no frames"
            time.sleep(0.01)

    def wait_closed(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.done.wait(timeout), "the session did not stop"
        assert self.closed is not None, (self.close_code, self.close_reason)
        return self.closed


def silence(path: Path, seconds: float) -> Path:
    """A clip a client uploads that is cheap to check (no speech: no recogniser runs) and
    renders at 25 frames a second: tests that need a job to be mid-render use it."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * int(16000 * seconds))
    return path
