"""``lpm-guard generator-worker``: performers served to the gate over WebSocket.

One connection is one performer. The worker holds no signing, watermark or audit key and
writes nothing: the photo and references arrive with the connection, are rigged, and are
dropped with the performer when the connection ends. Every request carries the worker's
secret (``Authorization: Bearer …``, compared in constant time); TLS, with client
certificates for mutual TLS, is the operator's choice (``--tls-cert``, ``--client-ca``).

Back-pressure both ways: frames wait in a queue of two for the socket (websockets' own buffer
blocks the sender when the gate reads slowly, so the renderer waits instead of memory
growing), and the gate's audio is read as it comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import ssl
import threading
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..logs import get_logger
from . import wire
from .errors import PortraitRefused
from .protocol import SIZES, Backend, Direction, Performer, Portrait, Voice

log = get_logger(__name__)

START_TIMEOUT_S = 30.0  # for the portrait and the start message after connecting
_END = object()


class WorkerServer:
    def __init__(self, backend: Backend, secret: bytes, *, capacity: int = 1) -> None:
        if len(secret) < 16:
            raise ValueError("the worker's secret must be at least 16 bytes")
        self.backend = backend
        self.capacity = capacity
        self.active = 0
        self.served = 0
        self._secret = secret

    # --- HTTP: authentication, health, capacity -----------------------------------------------

    def _authorised(self, headers: Headers) -> bool:
        given = headers.get("Authorization", "")
        expected = b"Bearer " + self._secret
        return hmac.compare_digest(given.encode("utf-8", "replace"), expected)

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if not self._authorised(request.headers):
            return connection.respond(HTTPStatus.UNAUTHORIZED, "the worker's secret is needed\n")
        if request.path == "/health":
            body = {"capacity": self.capacity, "active": self.active, "served": self.served}
            response = connection.respond(HTTPStatus.OK, json.dumps(body) + "\n")
            response.headers["Content-Type"] = "application/json"
            return response
        if request.path != "/perform":
            return connection.respond(HTTPStatus.NOT_FOUND, "no such path\n")
        if self.active >= self.capacity:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "the worker is full\n")
        return None

    # --- one performer per connection ---------------------------------------------------------

    async def handle(self, ws: ServerConnection) -> None:
        if self.active >= self.capacity:  # two handshakes raced for the last place
            await ws.close(1013, "the worker is full")
            return
        self.active += 1
        try:
            await self._perform(ws)
        except wire.WireError as exc:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(wire.event("error", message=str(exc)))
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            self.active -= 1
            self.served += 1

    async def _perform(self, ws: ServerConnection) -> None:
        # (1): the portrait, then the start.
        start, photo, references = await asyncio.wait_for(_portrait(ws), START_TIMEOUT_S)
        try:
            portrait = Portrait(
                photo,
                tuple(references),
                _landmarks(start.get("landmarks")),
                _size(start.get("size")),
            )
            direction = Direction(
                fps=_int(start, "fps", 1, 60),
                seed=_int(start, "seed", 0, 2**31),
                live=bool(start.get("live", True)),
            )
            encoding = wire.ENCODINGS[str(start.get("encoding", "raw"))]
            quality = _int(start, "quality", wire.MIN_JPEG_QUALITY, 100, wire.MIN_JPEG_QUALITY)
        except (KeyError, ValueError, TypeError) as exc:
            raise wire.WireError(f"a start message the worker cannot follow: {exc}") from None
        del photo, references
        try:
            performer = await asyncio.to_thread(self.backend.start, portrait, direction)
        except PortraitRefused as exc:
            await ws.send(wire.event("refused", message=exc.detail))
            return
        del portrait  # the performer keeps what it rigged; the pictures go now
        try:
            await ws.send(wire.event("ready", size=list(performer.size), fps=performer.fps))
            await _stream(ws, performer, encoding, quality)
        finally:
            performer.close()


async def _portrait(ws: ServerConnection) -> tuple[dict[str, Any], Any, list[Any]]:
    photo = None
    references: list[Any] = []
    while True:
        message = await ws.recv()
        if isinstance(message, str):
            start = wire.parse_event(message)
            if start["type"] != "start" or photo is None:
                raise wire.WireError("the photo, then the start message, come first")
            return start, photo, references
        tag, body = message[:1], message[1:]
        if tag == wire.PHOTO and photo is None:
            photo = wire.unpng(body)
        elif tag == wire.REFERENCE and len(references) < wire.MAX_REFERENCES:
            references.append(wire.unpng(body))
        else:
            raise wire.WireError("only one photo and a few references come before the start")


async def _stream(ws: ServerConnection, performer: Performer, encoding: int, quality: int) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: object) -> None:
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while not stop.is_set():
            try:
                future.result(timeout=0.25)
                return
            except TimeoutError:
                continue
        future.cancel()

    def render() -> None:
        try:
            for performed in performer.frames(stop):
                put(wire.frame(performed, encoding, quality))
                if stop.is_set():
                    return
            put(_END)
        except Exception as exc:  # told to the gate, which stops the session
            log.exception("a performer failed")
            put(exc)

    async def send() -> None:
        while True:
            item = await queue.get()
            if item is _END:
                await ws.send(wire.event("end"))
                return
            if isinstance(item, Exception):
                await ws.send(wire.event("error", message=f"{type(item).__name__}: {item}"))
                return
            assert isinstance(item, bytes)
            await ws.send(item)

    async def receive() -> None:
        seq = 0
        words: str | None = None  # the text of the next chunk, when the gate sent one
        async for message in ws:
            if isinstance(message, bytes):
                if message[:1] != wire.AUDIO:
                    raise wire.WireError("binary messages after the start are audio")
                voice, number, samples = wire.unaudio(message)
                seq += 1
                if number != seq:
                    raise wire.WireError("audio chunks numbered out of order")
                if words is None:
                    placed = performer.feed_audio(samples, voice)
                else:  # aligning the words takes a while: off the event loop
                    placed = await asyncio.to_thread(performer.feed_audio, samples, voice, words)
                    words = None
                if placed != seq:
                    raise wire.WireError("audio chunks numbered out of order")
                continue
            order = wire.parse_event(message)
            kind = order["type"]
            if kind == "words":
                text = order.get("text")
                if order.get("seq") != seq + 1 or not isinstance(text, str):
                    raise wire.WireError("words for no chunk that comes next")
                words = text[: wire.MAX_WORDS]
                continue
            if kind == "transcript":
                text = order.get("text")
                if not isinstance(text, str):
                    raise wire.WireError("a transcript is text")
                performer.feed_transcript(text[: wire.MAX_WORDS], done=order.get("done") is True)
                continue
            if kind == "close":
                return
            if kind == "play":
                if not thread.is_alive() and not stop.is_set() and not played:
                    played.append(True)
                    thread.start()
                continue
            if kind == "instruct":
                future = performer.instruct(str(order.get("text", ""))[:2000])
                understood = await asyncio.wrap_future(future)
                await ws.send(wire.event("understood", id=order.get("id"), understood=understood))
            elif kind == "cancel":
                performer.cancel(_voice(order.get("voice", "agent")))
            elif kind == "end_audio":
                ended = order.get("voice")
                performer.end_audio(_voice(ended) if ended else None)
            else:
                raise wire.WireError(f"no such message: {kind!r}")

    thread = threading.Thread(target=render, name="performer", daemon=True)
    played: list[bool] = []  # frames start on the gate's ``play``
    sending = asyncio.ensure_future(send())
    receiving = asyncio.ensure_future(receive())
    try:
        done, _ = await asyncio.wait({sending, receiving}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a protocol error is told to the gate
        if sending in done:  # the stream ended: hold the connection until the gate closes it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(receiving, 5.0)
    finally:
        stop.set()
        for task in (sending, receiving):
            task.cancel()
        while thread.is_alive():  # free the renderer if it waits on a full queue
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            await asyncio.sleep(0.01)


def _voice(value: Any) -> Voice:
    try:
        return Voice(value)
    except ValueError:
        raise wire.WireError(f"no such voice: {value!r}") from None


def _landmarks(value: Any) -> tuple[tuple[float, float], ...] | None:
    if value is None:
        return None
    points = tuple((float(x), float(y)) for x, y in value)
    if len(points) != 68:
        raise ValueError("landmarks are 68 points")
    return points


def _size(value: Any) -> tuple[int, int]:
    size = (int(value[0]), int(value[1]))
    if size not in SIZES:
        raise ValueError(f"no such size {size}")
    return size


def _int(order: dict[str, Any], key: str, low: int, high: int, default: int = 0) -> int:
    value = int(order.get(key, default))
    if not low <= value <= high:
        raise ValueError(f"{key} must be {low}..{high}")
    return value


async def run(
    server: WorkerServer,
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
    ready: Callable[[Server], Awaitable[None] | None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever)."""
    async with serve(
        server.handle,
        host,
        port,
        process_request=server.process_request,
        ssl=tls,
        max_size=wire.MAX_MESSAGE_BYTES,
        compression=None,  # frames are JPEG or raw pictures, audio is noise to deflate
        ping_interval=None,  # the gate's stall timer watches the stream itself
    ) as listening:
        if ready is not None:
            result = ready(listening)
            if result is not None:
                await result
        await (stop or asyncio.Event()).wait()


def server_tls(cert: str, key: str, client_ca: str | None) -> ssl.SSLContext:
    """TLS for the worker; with ``client_ca`` only gates holding a certificate it issued
    connect (mutual TLS)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
