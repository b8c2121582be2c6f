"""A performer on a ``generator-worker``, as the gate holds it.

Frames start when the caller first reads them (``play``). A reader thread takes everything the
worker sends and checks it before the gate uses it: each frame must be the next
index, of the stream's size, and come before the stream's end; a worker that goes away, sends
nothing for ``stall_s`` (before the first frame, more by the seconds of speech it was sent
words for: it aligns them first) or breaks the protocol raises ``PerformerFailed`` with the
breach named,
and the session or job it served stops. Input goes out through a sender thread, so a worker
that stops reading never blocks the caller (the server's event loop): a backlog past
``MAX_BACKLOG`` messages is a stall.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import numpy as np
import numpy.typing as npt
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from . import wire
from .errors import Breach, PerformerFailed, PerformerUnavailable, PortraitRefused
from .protocol import SAMPLE_RATE, Direction, PerformedFrame, Portrait, Voice

MAX_BACKLOG = 500  # messages waiting for the worker (20 s of 40 ms audio chunks)
ALIGNING_S_PER_S = 1.0  # patience for the first frame, per second of speech sent with its words
READY_TIMEOUT_S = 60.0  # rigging a photo takes a few seconds on a busy CPU
POLL_S = 0.1  # how often a waiting reader looks at its stop event
INBOX_FRAMES = 4  # frames read ahead of the caller
_CLOSE = object()
_END = object()


class WorkerBusy(Exception):
    """The worker answered 503: it is full."""


class RemotePerformer:
    def __init__(
        self,
        url: str,
        secret: bytes,
        portrait: Portrait,
        direction: Direction,
        *,
        encoding: str = "jpeg",
        quality: int = wire.MIN_JPEG_QUALITY,
        stall_s: float = 3.0,
        tls: ssl.SSLContext | None = None,
        open_timeout_s: float = 5.0,
    ) -> None:
        if encoding not in wire.ENCODINGS or quality < wire.MIN_JPEG_QUALITY:
            raise ValueError("frames travel raw, or as JPEG at quality 95 or more")
        self.url = url
        self._direction = direction
        self._stall_s = stall_s
        self._aligning_s = 0.0  # seconds of voice sent with its words
        self._expected = portrait.size
        self._seq = itertools.count(1)
        self._seq_lock = threading.Lock()
        self._asked = itertools.count(1)
        self._answers: dict[int, Future[list[str]]] = {}
        self._outbox: queue.Queue[object] = queue.Queue()
        self._closing = threading.Event()
        self._failure: PerformerFailed | None = None
        self._held = contextlib.ExitStack()  # the connection, closed with the performer
        try:
            self._ws: ClientConnection = self._held.enter_context(
                connect(
                    url.rstrip("/") + "/perform",
                    additional_headers={"Authorization": "Bearer " + secret.decode()},
                    ssl=tls,
                    open_timeout=open_timeout_s,
                    max_size=wire.MAX_MESSAGE_BYTES,
                    compression=None,
                    max_queue=4,  # frames the gate has not read yet: TCP holds the rest
                )
            )
        except InvalidStatus as exc:
            if exc.response.status_code == 503:
                raise WorkerBusy(url) from exc
            raise PerformerUnavailable(
                f"the generator worker refused the connection ({exc.response.status_code})"
            ) from exc
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise PerformerUnavailable("the generator worker cannot be reached") from exc
        try:
            self._size, self._fps = self._open(portrait, direction, encoding, quality)
        except BaseException:
            self._held.close()
            raise
        self._inbox: queue.Queue[object] = queue.Queue(maxsize=INBOX_FRAMES)
        self._sender = threading.Thread(target=self._send_loop, name="performer-out", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name="performer-in", daemon=True)
        self._sender.start()
        self._reader.start()

    def _open(
        self, portrait: Portrait, direction: Direction, encoding: str, quality: int
    ) -> tuple[tuple[int, int], int]:
        ws = self._ws
        ws.send(wire.PHOTO + wire.png(portrait.photo))
        for reference in portrait.references:
            ws.send(wire.REFERENCE + wire.png(reference))
        ws.send(
            wire.event(
                "start",
                size=list(portrait.size),
                landmarks=[list(p) for p in portrait.landmarks] if portrait.landmarks else None,
                fps=direction.fps,
                seed=direction.seed,
                live=direction.live,
                encoding=encoding,
                quality=quality,
            )
        )
        try:
            answer = wire.parse_event(str(ws.recv(timeout=READY_TIMEOUT_S)))
        except (ConnectionClosed, TimeoutError, wire.WireError) as exc:
            raise PerformerUnavailable("the generator worker did not start a performer") from exc
        if answer["type"] == "refused":
            raise PortraitRefused(str(answer.get("message", "the worker refused the portrait")))
        if answer["type"] != "ready":
            raise PerformerUnavailable(f"the generator worker answered {answer['type']!r}")
        size = (int(answer["size"][0]), int(answer["size"][1]))
        if size != portrait.size or int(answer["fps"]) != direction.fps:
            raise PerformerFailed(
                Breach.WRONG_SIZE,
                f"the worker offered {size[0]}×{size[1]} at {answer['fps']} fps, not "
                f"{portrait.size[0]}×{portrait.size[1]} at {direction.fps} fps",
            )
        return size, int(answer["fps"])

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def fps(self) -> int:
        return self._fps

    # --- input: queued, sent by the sender thread ---------------------------------------------

    def _post(self, message: object) -> None:
        if self._outbox.qsize() >= MAX_BACKLOG:
            self._fail(PerformerFailed(Breach.STALLED, "the generator worker stopped reading"))
            return
        self._outbox.put(message)

    def _send_loop(self) -> None:
        while True:
            message = self._outbox.get()
            if message is _CLOSE:
                return
            try:
                self._ws.send(message)  # type: ignore[arg-type]
            except (ConnectionClosed, OSError):
                return  # the reader sees the connection go

    def feed_audio(
        self, samples: npt.NDArray[np.float32], voice: Voice, text: str | None = None
    ) -> int:
        with self._seq_lock:  # numbered in the order they are queued
            seq = next(self._seq)
            if text:  # the words go just before the chunk they were spoken in
                self._post(wire.event("words", seq=seq, text=text[: wire.MAX_WORDS]))
                self._aligning_s += len(samples) / SAMPLE_RATE
            self._post(wire.audio(voice, seq, np.asarray(samples, np.float32)))
        return seq

    def feed_transcript(self, text: str, *, done: bool = False) -> None:
        self._post(wire.event("transcript", text=text[: wire.MAX_WORDS], done=done))

    def end_audio(self, voice: Voice | None = None) -> None:
        self._post(wire.event("end_audio", voice=voice.value if voice else None))

    def cancel(self, voice: Voice = Voice.AGENT) -> None:
        self._post(wire.event("cancel", voice=voice.value))

    def instruct(self, text: str) -> Future[list[str]]:
        answer: Future[list[str]] = Future()
        number = next(self._asked)
        self._answers[number] = answer
        self._post(wire.event("instruct", id=number, text=text))
        return answer

    # --- output: read and checked by the reader thread, taken by the caller's ----------------

    def _fail(self, failure: PerformerFailed) -> None:
        if self._failure is None:
            self._failure = failure
        for answer in list(self._answers.values()):
            if not answer.done():
                answer.set_exception(failure)

    def _hand(self, item: object) -> bool:
        """Give the caller a frame (or the end, or a failure); waits while it is behind (the
        socket then holds the rest: back-pressure). False once the performer is closed."""
        while not self._closing.is_set():
            try:
                self._inbox.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _read_loop(self) -> None:
        expected = 0
        ended = False
        try:
            while not self._closing.is_set():
                try:
                    message = self._ws.recv(timeout=POLL_S)
                except TimeoutError:
                    continue
                except ConnectionClosed as exc:
                    if ended:  # let go after the end: the stream is complete
                        self._hand(_END)
                        return
                    raise PerformerFailed(
                        Breach.DIED,
                        f"the generator worker went away ({exc.rcvd or 'no close frame'})",
                    ) from None
                if ended:
                    kind = "a frame" if isinstance(message, bytes) else "a message"
                    raise PerformerFailed(
                        Breach.AFTER_END, f"the generator worker sent {kind} after the stream ended"
                    )
                if isinstance(message, str):
                    if self._event(wire.parse_event(message)):
                        ended = True
                        self._post(wire.event("close"))
                    continue
                if not self._hand(self._frame(message, expected)):
                    return
                expected += 1
        except wire.WireError as exc:
            failure = PerformerFailed(Breach.MALFORMED, f"the generator worker sent {exc}")
            self._fail(failure)
            self._hand(failure)
        except PerformerFailed as exc:
            self._fail(exc)
            self._hand(exc)

    def frames(self, stop: threading.Event | None = None) -> Iterator[PerformedFrame]:
        self._post(wire.event("play"))
        waited_since = time.monotonic()
        # The first frame may wait on the worker aligning the words it was sent (well under a
        # second per second of speech): that long more, and no longer.
        allowance = self._stall_s + ALIGNING_S_PER_S * self._aligning_s
        while True:
            if stop is not None and stop.is_set():
                return
            try:
                item = self._inbox.get(timeout=POLL_S)
            except queue.Empty:
                if self._failure is not None:
                    raise self._failure from None
                if time.monotonic() - waited_since > allowance:
                    failure = PerformerFailed(
                        Breach.STALLED, f"no frame from the generator worker for {allowance:.1f} s"
                    )
                    self._fail(failure)
                    raise failure from None
                continue
            if isinstance(item, PerformerFailed):
                raise item
            if item is _END:
                if self._direction.live:
                    raise PerformerFailed(Breach.DIED, "the generator worker ended a live stream")
                return
            assert isinstance(item, PerformedFrame)
            yield item
            waited_since = time.monotonic()
            allowance = self._stall_s

    def _event(self, event: dict[str, Any]) -> bool:
        """Apply a worker's event; True when the stream has ended."""
        kind = event["type"]
        if kind == "end":
            return True
        if kind == "understood":
            answer = self._answers.pop(int(event.get("id") or 0), None)
            if answer is not None and not answer.done():
                answer.set_result([str(u) for u in event.get("understood") or []])
            return False
        if kind == "error":
            message = str(event.get("message", "no detail"))[:500]
            raise PerformerFailed(Breach.FAILED, f"the generator worker failed: {message}")
        raise wire.WireError(f"a {kind!r} message during the stream")

    def _frame(self, data: bytes, expected: int) -> PerformedFrame:
        if data[:1] != wire.FRAME:
            raise wire.WireError("a binary message that is not a frame")
        header = wire.frame_header(data)
        if header.index != expected:
            raise PerformerFailed(
                Breach.OUT_OF_ORDER,
                f"the generator worker sent frame {header.index} where {expected} was due",
            )
        rgb = wire.picture(data, header, self._size)
        if rgb is None:
            width, height = self._size
            raise PerformerFailed(
                Breach.WRONG_SIZE,
                f"the generator worker sent {wire.picture_size(data, header)} for a "
                f"{width}×{height} stream",
            )
        return PerformedFrame(
            header.index, header.index / self._fps, rgb, header.state, header.marks
        )

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        with contextlib.suppress(Exception):
            self._outbox.put(wire.event("close"))
        self._outbox.put(_CLOSE)
        self._sender.join(2.0)
        self._held.close()
        self._reader.join(2.0)
        self._fail(PerformerFailed(Breach.DIED, "the performer was closed"))
