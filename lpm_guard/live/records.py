"""A live session's record: its frames and the agent's voice as C2PA-signed segments.

The adapter between the session's ``FrameSink`` seam and the provenance stage's
``SegmentRecorder``: each frame as it leaves, with the voice that plays during it; every
segment signed as it closes (the client hears ``segment.signed``), the whole recording signed at
the end with the segments as its ingredients.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from pathlib import Path

import numpy as np

from ..provenance.models import ProvenanceRecord, SegmentSigned
from ..provenance.segments import SegmentRecorder
from ..provenance.services import ProvenanceService
from .protocol import AUDIO_RATE, ServerEventType
from .session import LiveSession


class SignedRecord:
    """``FrameSink`` for a live session: frames and voice into signed segments.

    The recording runs on a thread of its own: H.264 encoding costs a few milliseconds a frame
    and closing a segment (flush, copy into the whole, C2PA signing) tens of milliseconds every
    two seconds, which on the render thread would show as a hitch in the stream. The queue
    between them is short (half a second of frames); when it is full the render thread waits,
    because the record must hold every frame the client was sent. The writer takes the frames
    a few at a time (``batch_frames``, or what has waited ``BATCH_WAIT_S``): woken for every
    frame, 25 times a second a session, it would take the CPU from render threads holding the
    server's GIL, and every other thread of the process would wait for both.
    """

    def __init__(
        self, recorder: SegmentRecorder, *, queue_frames: int = 12, batch_frames: int = 4
    ) -> None:
        self.recorder = recorder
        self.closed_path: Path | None = None
        self._queue: deque[_Item] = deque()
        self._queue_frames = queue_frames
        self._batch = max(1, min(batch_frames, queue_frames))
        self._ready = threading.Condition()
        self._closing = False
        self._error: BaseException | None = None
        self._discarded = False
        self._writer = threading.Thread(
            target=self._write, name=f"record-{recorder.stream_id}", daemon=True
        )
        self._writer.start()

    @classmethod
    def start(
        cls,
        provenance: ProvenanceService,
        directory: Path,
        session: LiveSession,
        record: ProvenanceRecord,
    ) -> SignedRecord:
        width, height = session.size

        def signed(segment: SegmentSigned) -> None:
            session.notify(
                ServerEventType.SEGMENT_SIGNED,
                sequence=segment.sequence_number,
                manifest_id=str(segment.manifest_label),
                start=segment.start_s,
                duration=segment.duration_s,
            )

        recorder = provenance.recorder(
            directory,
            stream_id=session.session_id,
            record=record,
            width=width,
            height=height,
            fps=session.fps,
            audio_rate=AUDIO_RATE,
            on_segment=signed,
        )
        return cls(recorder, queue_frames=max(2, session.fps // 2))

    def add_frame(self, rgb: np.ndarray, pts: float, audio: np.ndarray) -> None:
        """Queue one frame (copied: the caller may reuse its buffers) for the writer."""
        if self._error is not None:
            raise RecordingFailed("the session's record could not be written") from self._error
        item = (rgb.copy(), pts, audio.astype(np.float32))
        with self._ready:
            while len(self._queue) >= self._queue_frames:
                self._ready.wait()  # full: the writer takes them and says so
            self._queue.append(item)
            if len(self._queue) >= self._batch:
                self._ready.notify_all()

    def close(self) -> None:
        """Wait for the writer to drain the queue, then sign the whole recording."""
        if self._discarded:
            return
        self._stop_writer()
        if self._error is not None:
            raise RecordingFailed("the session's record could not be written") from self._error
        self.closed_path = self.recorder.close().path

    def discard(self) -> None:
        """The session never streamed: stop the writer, keep nothing."""
        if self._discarded:
            return
        self._discarded = True
        self._stop_writer()
        self.recorder.abort()
        with contextlib.suppress(OSError):  # only if empty: signed segments always stay
            self.recorder.directory.rmdir()

    def _stop_writer(self) -> None:
        with self._ready:
            self._closing = True  # the writer takes every frame queued so far, then ends
            self._ready.notify_all()
        self._writer.join()

    def _write(self) -> None:
        while True:
            with self._ready:
                if len(self._queue) < self._batch and not self._closing:
                    self._ready.wait(BATCH_WAIT_S)
                items = list(self._queue)
                self._queue.clear()
                closing = self._closing
                self._ready.notify_all()  # a render thread waiting on a full queue
            for rgb, pts, audio in items:
                if self._error is not None:
                    break  # drained, so the render thread never blocks on a dead writer
                try:
                    self.recorder.add_frame(rgb, pts)
                    self.recorder.add_audio(audio, pts)
                except BaseException as exc:  # reported to the render thread, which stops
                    self._error = exc
                    self.recorder.abort()
            if closing and not items:
                return


_Item = tuple[np.ndarray, float, np.ndarray]
BATCH_WAIT_S = 0.2  # the longest a frame waits for the writer when fewer than a batch are in


class RecordingFailed(RuntimeError):
    """The writer thread failed; the session stops and what was signed so far stays."""
