"""Generator workers for tests: the real `lpm-guard generator-worker` in a process of its own,
and (for workers that misbehave on purpose) a ``WorkerServer`` in a thread of this process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from lpm_guard.performers.protocol import Backend
from lpm_guard.performers.server import WorkerServer, run

START_TIMEOUT_S = 120.0  # importing the generator on a busy two-core machine


@dataclass
class WorkerProcess:
    url: str
    secret: bytes
    process: subprocess.Popen[str]
    home: Path  # the worker's working directory: it must stay empty

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


def new_secret() -> bytes:
    return secrets.token_urlsafe(24).encode()


@contextmanager
def worker_process(
    folder: Path, *, capacity: int = 1, secret: bytes | None = None
) -> Iterator[WorkerProcess]:
    """`lpm-guard generator-worker` on a free loopback port, in an empty working directory
    with no LPM_ settings (it needs none: it holds no keys and stores nothing)."""
    secret = secret or new_secret()
    home = folder / f"worker-{secrets.token_hex(3)}"
    home.mkdir(parents=True)
    secret_file = folder / f"{home.name}.secret"
    secret_file.write_bytes(secret)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LPM_")}
    env["LPM_LOG_JSON"] = "false"
    process = subprocess.Popen(
        [sys.executable, "-m", "lpm_guard", "generator-worker", "--port", "0",
         "--capacity", str(capacity), "--secret-file", str(secret_file)],
        cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        url = _listening(process)
        yield WorkerProcess(url, secret, process, home)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _listening(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = re.search(r"listening on (ws://\S+)", line)
            if match:
                found.append(match.group(1))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    if not found:
        process.kill()
        raise RuntimeError("the generator worker did not start")
    return found[0]


@contextmanager
def worker_thread(
    backend: Backend, secret: bytes, *, capacity: int = 1, tls: ssl.SSLContext | None = None
) -> Iterator[str]:
    """A ``WorkerServer`` over ``backend`` in a thread: its ws:// (wss:// with ``tls``) URL."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    bound: list[str] = []
    started = threading.Event()

    def ready(server: Server) -> None:
        port = next(iter(server.sockets)).getsockname()[1]
        bound.append(f"{'wss' if tls else 'ws'}://127.0.0.1:{port}")
        started.set()

    def serve() -> None:
        loop.run_until_complete(
            run(
                WorkerServer(backend, secret, capacity=capacity),
                "127.0.0.1",
                0,
                tls=tls,
                ready=ready,
                stop=stop,
            )
        )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not started.wait(20):
        raise RuntimeError("the worker thread did not start")
    try:
        yield bound[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        deadline = time.monotonic() + 5
        while loop.is_running() and time.monotonic() < deadline:
            time.sleep(0.01)
        loop.close()


Script = Callable[[ServerConnection, dict[str, Any]], Awaitable[None]]


@contextmanager
def rogue_worker(script: Script, secret: bytes) -> Iterator[str]:
    """A worker that speaks the wire protocol as ``script`` says (to feed the gate the
    attacks a compromised or broken worker could send): it reads the photo and the start
    message, then hands the connection and the start message to ``script``."""

    async def handle(ws: ServerConnection) -> None:
        while True:
            message = await ws.recv()
            if isinstance(message, str):
                break
        with contextlib.suppress(ConnectionClosed):
            await script(ws, json.loads(message))
            await ws.wait_closed()

    def authorise(connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Authorization") != "Bearer " + secret.decode():
            return connection.respond(HTTPStatus.UNAUTHORIZED, "no\n")
        if request.path == "/health":
            return connection.respond(HTTPStatus.OK, '{"capacity": 1, "active": 0}')
        return None

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    bound: list[str] = []
    started = threading.Event()

    async def main() -> None:
        async with serve(handle, "127.0.0.1", 0, process_request=authorise, max_size=None) as s:
            bound.append(f"ws://127.0.0.1:{next(iter(s.sockets)).getsockname()[1]}")
            started.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    if not started.wait(20):
        raise RuntimeError("the rogue worker did not start")
    try:
        yield bound[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
