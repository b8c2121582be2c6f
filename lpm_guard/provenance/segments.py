"""Live recording as signed segments: c2pa-python cannot sign fragmented MP4, so a live
session's record is cut into standalone MP4 segments (2 s by default), each signed as it
closes, each manifest naming the stream, its sequence number and the previous segment's
manifest id (C2PA 2.3 §19.3). At the end the whole recording is signed with the segments as
ingredients; its video is the segments' own packets (no second encode)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

from ..keys import C2paCredentials
from .errors import RecorderClosed
from .manifest import new_label, segment_assertion
from .models import ManifestLabel, ProvenanceRecord, SegmentSigned, SignedAsset
from .signing import Ingredient, ManifestKeeper, Mp4Signer
from .tsa_relay import DEFAULT_TIMEOUT_S

SegmentCallback = Callable[[SegmentSigned], None]
_EPSILON = 1e-6


class _Segment:
    """One open, unsigned segment file and its encoders."""

    def __init__(self, path: Path, owner: SegmentRecorder, sequence: int, slot: int) -> None:
        self.path = path
        self.sequence = sequence  # counts segments: 0, 1, 2... even across a pause
        self.slot = slot  # which segment_s window of the stream's time it covers
        self.start_s = slot * owner.segment_s
        self.frames = 0
        self.last_pts = -1
        self.container: Any = av.open(str(path), "w", format="mp4")
        video = self.container.add_stream("libx264", rate=owner.fps)
        video.width, video.height, video.pix_fmt = owner.width, owner.height, "yuv420p"
        # zerolatency: no B-frames, so decode order is presentation order and the recording can
        # reuse the segments' packets as they are.
        # One encoder thread: a server runs many recorders at once, one core's worth each.
        # ultrafast: a live server encodes every session's record beside rendering it, and
        # superfast cost 0.9 ms more a 512² frame (2.1 against 1.2 ms: 2 % of a core per
        # session at 25 fps). At crf 23 the file is about 1.8 times larger (~0.9 Mbit/s at
        # 512²) and 0.2 dB lower in PSNR; the watermark reads from it as well (3 keys, 60
        # frames: decoded, confidence 29-33 against 25-32).
        video.options = {
            "crf": str(owner.crf),
            "preset": owner.preset,
            "tune": "zerolatency",
            "threads": "1",
        }
        self.video = video
        self.audio: Any = None
        if owner.audio_rate:
            self.audio = self.container.add_stream("aac", rate=owner.audio_rate)
            self.audio.layout = "mono"


class SegmentRecorder:
    """Records one live stream as signed segments and, on ``close``, the signed whole.

    The gate drives it from its frame loop: ``add_frame(rgb, pts)`` for every (watermarked)
    frame, ``add_audio(samples)`` for the mixed audio, ``close()`` at the end. Each segment is
    signed when the first frame past its end arrives (or at ``close``), and ``on_segment`` is
    called with the ``SegmentSigned`` event. Not thread-safe: drive it from one thread.
    """

    def __init__(
        self,
        directory: Path,
        *,
        stream_id: str,
        record: ProvenanceRecord,
        credentials: C2paCredentials,
        ta_url: str | None = None,
        ta_timeout_s: float = DEFAULT_TIMEOUT_S,
        keeper: ManifestKeeper | None = None,
        width: int,
        height: int,
        fps: int,
        segment_s: float = 2.0,
        audio_rate: int | None = None,
        on_segment: SegmentCallback | None = None,
        crf: int = 23,
        preset: str = "ultrafast",
    ) -> None:
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError("width and height must be positive and even (yuv420p)")
        if fps <= 0 or segment_s * fps < 1:
            raise ValueError("a segment must hold at least one frame")
        self.directory = directory
        self.stream_id = stream_id
        self.record = record
        self.width, self.height, self.fps = width, height, fps
        self.segment_s = segment_s
        self.audio_rate = audio_rate
        self.crf, self.preset = crf, preset
        self._on_segment = on_segment
        self._signer = Mp4Signer(
            credentials, ta_url=ta_url, ta_timeout_s=ta_timeout_s, keeper=keeper
        )
        self._segment: _Segment | None = None
        self._signed: list[SegmentSigned] = []
        self._last_pts = -math.inf
        self._closed = False
        # Audio on one timeline from 0 s: samples not yet written, starting at sample _audio_at.
        self._audio = np.zeros(0, np.float32)
        self._audio_at = 0
        self.late_audio_samples = 0
        # The whole recording, opened when the first segment closes (it copies that stream).
        self._whole_path = directory / f".{stream_id}.unsigned.mp4"
        self._whole: Any = None
        self._whole_video: Any = None
        self._whole_audio: Any = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def segments(self) -> list[SegmentSigned]:
        return list(self._signed)

    def segment_path(self, sequence: int) -> Path:
        return self.directory / f"{self.stream_id}-{sequence:06d}.mp4"

    # --- input ------------------------------------------------------------------------------

    def add_frame(self, rgb: npt.NDArray[np.uint8], pts: float) -> None:
        """Append one RGB frame shown at ``pts`` seconds from the start of the stream."""
        self._check_open()
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width}x3 uint8 frame")
        if pts <= self._last_pts or pts < 0:
            raise ValueError(f"frame times must increase (got {pts} after {self._last_pts})")
        slot = math.floor(pts / self.segment_s + _EPSILON)
        if self._segment is not None and slot != self._segment.slot:
            current = self._segment
            self._finish_segment(end_s=min(slot, current.slot + 1) * self.segment_s)
        if self._segment is None:
            sequence = len(self._signed)
            path = self.directory / f".{self.stream_id}-{sequence:06d}.unsigned.mp4"
            self._segment = _Segment(path, self, sequence, slot)
        segment = self._segment
        index = round((pts - segment.start_s) * self.fps)
        index = max(index, segment.last_pts + 1)
        # OpenCV's BT.601 limited-range I420 is what swscale would give (to within one grey
        # level) in a third of the time.
        yuv = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), np.uint8)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = index, Fraction(1, self.fps)
        segment.container.mux(segment.video.encode(frame))
        segment.last_pts = index
        segment.frames += 1
        self._last_pts = pts

    def add_audio(self, samples: npt.NDArray[np.float32], pts: float | None = None) -> None:
        """Append mono float samples at ``audio_rate``, starting at ``pts`` seconds (default:
        right after the previous samples). Samples for a segment already signed are dropped
        and counted in ``late_audio_samples``."""
        self._check_open()
        if not self.audio_rate:
            raise ValueError("this recorder was made without audio (audio_rate=None)")
        data = np.asarray(samples, np.float32).reshape(-1)
        end = self._audio_at + len(self._audio)
        start = end if pts is None else round(pts * self.audio_rate)
        if start < self._audio_at:
            late = min(len(data), self._audio_at - start)
            self.late_audio_samples += late
            data, start = data[late:], start + late
        if start + len(data) > end:
            self._audio = np.concatenate(
                [self._audio, np.zeros(start + len(data) - end, np.float32)]
            )
        offset = start - self._audio_at
        self._audio[offset : offset + len(data)] = data

    # --- closing ----------------------------------------------------------------------------

    def close(self) -> SignedAsset:
        """Sign the last segment, then the whole recording with every segment as ingredient."""
        self._check_open()
        self._closed = True
        try:
            if self._segment is not None:
                last = self._segment
                self._finish_segment(end_s=last.start_s + (last.last_pts + 1) / self.fps)
            if self._whole is None:
                raise ValueError("nothing was recorded")
            if self._whole_audio is not None:
                self._whole.mux(self._whole_audio.encode())
            self._whole.close()
            self._whole = None
            ingredients = [Ingredient(s.path, s.path.name) for s in self._signed]
            target = self.directory / f"{self.stream_id}.mp4"
            return self._signer.sign(self._whole_path, target, self.record, ingredients=ingredients)
        finally:
            self._discard_partials()
            self._signer.close()

    def abort(self) -> None:
        """Stop without signing what is still open; segments already signed stay."""
        if self._closed:
            return
        self._closed = True
        self._discard_partials()
        self._signer.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RecorderClosed(f"the recording of stream {self.stream_id} is closed")

    def _discard_partials(self) -> None:
        if self._segment is not None:
            with contextlib.suppress(Exception):
                self._segment.container.close()
            self._segment.path.unlink(missing_ok=True)
            self._segment = None
        if self._whole is not None:
            with contextlib.suppress(Exception):
                self._whole.close()
            self._whole = None
        self._whole_path.unlink(missing_ok=True)

    def _finish_segment(self, end_s: float) -> None:
        segment = self._segment
        assert segment is not None
        # (1): flush the encoders and close the unsigned file.
        segment.container.mux(segment.video.encode())
        audio = self._take_audio(segment.start_s, end_s)
        if segment.audio is not None:
            _encode_audio(segment.container, segment.audio, audio, self.audio_rate or 0)
        segment.container.close()
        self._segment = None
        # (2): copy its packets into the whole recording.
        self._append_to_whole(segment, audio)
        # (3): sign it, pointing back at the previous segment's manifest.
        previous: ManifestLabel | None = self._signed[-1].manifest_label if self._signed else None
        label = new_label()
        try:
            signed = self._signer.sign(
                segment.path,
                self.segment_path(segment.sequence),
                self.record,
                label=label,
                extra_assertions=[segment_assertion(self.stream_id, segment.sequence, previous)],
            )
        finally:
            segment.path.unlink(missing_ok=True)
        event = SegmentSigned(
            stream_id=self.stream_id,
            sequence_number=segment.sequence,
            path=signed.path,
            manifest_label=label,
            previous_manifest_label=previous,
            start_s=segment.start_s,
            duration_s=end_s - segment.start_s,
            frames=segment.frames,
            sign_ms=signed.sign_ms,
            publish_ms=signed.publish_ms,
        )
        self._signed.append(event)
        if self._on_segment is not None:
            self._on_segment(event)

    def _take_audio(self, start_s: float, end_s: float) -> npt.NDArray[np.float32] | None:
        """The audio of the segment from ``start_s`` to ``end_s``, padded with silence."""
        if not self.audio_rate:
            return None
        start, end = round(start_s * self.audio_rate), round(end_s * self.audio_rate)
        if start > self._audio_at:  # a pause in the video: drop the audio of the gap
            skip = min(start - self._audio_at, len(self._audio))
            self._audio = self._audio[skip:]
            self._audio_at = start
        count = max(0, end - self._audio_at)
        chunk = self._audio[:count]
        if len(chunk) < count:
            chunk = np.concatenate([chunk, np.zeros(count - len(chunk), np.float32)])
        self._audio = self._audio[count:]
        self._audio_at = end
        return chunk

    def _append_to_whole(self, segment: _Segment, audio: npt.NDArray[np.float32] | None) -> None:
        with av.open(str(segment.path)) as source:
            video = source.streams.video[0]
            if self._whole is None:
                self._whole = av.open(str(self._whole_path), "w", format="mp4")
                self._whole_video = self._whole.add_stream_from_template(video)
                if self.audio_rate:
                    self._whole_audio = self._whole.add_stream("aac", rate=self.audio_rate)
                    self._whole_audio.layout = "mono"
            assert video.time_base is not None
            offset = round(segment.start_s / video.time_base)
            for packet in source.demux(video):
                if packet.dts is None or packet.pts is None:
                    continue  # the demuxer's empty flush packet
                packet.pts += offset
                packet.dts += offset
                packet.stream = self._whole_video
                self._whole.mux(packet)
        if audio is not None and self._whole_audio is not None:
            start = round(segment.start_s * (self.audio_rate or 0))
            _encode_audio(
                self._whole,
                self._whole_audio,
                audio,
                self.audio_rate or 0,
                start=start,
                flush=False,
            )


def _encode_audio(
    container: Any,
    stream: Any,
    samples: npt.NDArray[np.float32] | None,
    rate: int,
    *,
    start: int = 0,
    flush: bool = True,
) -> None:
    if samples is not None and len(samples):
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        container.mux(stream.encode(frame))
    if flush:
        container.mux(stream.encode())
