"""A Pipecat video service: the bot's TTS audio drives an lpm-guard character.

Put it after the TTS service in a pipeline. It sends the bot's speech (and its text, which the
session's policy checks) to a live session, swallows the TTS audio, and pushes what comes back
instead: each video frame as an ``OutputImageRawFrame`` and that frame's slice of the same
speech as a ``TTSAudioRawFrame``, so picture and sound leave in sync. An interruption cancels
the character's speech at once. Install with the ``pipecat`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import cv2
import numpy as np
import soxr
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputImageRawFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.ai_service import AIService

from ..sessions.protocol import AUDIO_RATE, VideoFrame
from .live import LiveClient


class LpmGuardVideoService(AIService):
    def __init__(self, *, stream_url: str, forward_user_audio: bool = True, **kwargs: Any) -> None:
        """``stream_url``: the session's ``ws://…/stream?ticket=…`` from ``POST /v1/sessions``.
        ``forward_user_audio``: let the character listen to the user's microphone too."""
        super().__init__(**kwargs)
        self._url = stream_url
        self._forward_user = forward_user_audio
        self._client: LiveClient | None = None
        self._connection: Any = None
        self._receiver: asyncio.Task[None] | None = None
        self._resamplers: dict[tuple[str, int], soxr.ResampleStream] = {}
        self.frames_received = 0

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        self._connection = LiveClient.connect(self._url)
        self._client = await self._connection.__aenter__()
        self._receiver = self.create_task(self._receive())

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)
        await self._disconnect()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._disconnect()

    async def _disconnect(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
        if self._receiver is not None:
            await self.cancel_task(self._receiver)
            self._receiver = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.__aexit__(None, None, None)
            self._connection = None
        self._client = None

    def _to_session_rate(self, frame: TTSAudioRawFrame | InputAudioRawFrame, who: str) -> bytes:
        samples = np.frombuffer(frame.audio, "<i2").reshape(-1, frame.num_channels).mean(axis=1)
        if frame.sample_rate != AUDIO_RATE:
            key = (who, frame.sample_rate)
            if key not in self._resamplers:
                self._resamplers[key] = soxr.ResampleStream(
                    frame.sample_rate, AUDIO_RATE, 1, dtype="float32", quality="LQ"
                )
            samples = self._resamplers[key].resample_chunk(samples.astype(np.float32))
        pcm: bytes = np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()
        return pcm

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        client = self._client
        if isinstance(frame, TTSAudioRawFrame) and client is not None:
            await client.speak(self._to_session_rate(frame, "bot"))
            return  # the character's own, frame-aligned copy comes back instead
        if isinstance(frame, TTSTextFrame) and client is not None:
            await client.transcript(frame.text)
        elif isinstance(frame, InterruptionFrame) and client is not None:
            await client.cancel()
            for key in [k for k in self._resamplers if k[0] == "bot"]:
                del self._resamplers[key]  # the next speech starts a fresh stream
        elif isinstance(frame, InputAudioRawFrame) and self._forward_user and client is not None:
            await client.hear(self._to_session_rate(frame, "user"))
        await self.push_frame(frame, direction)

    async def _receive(self) -> None:
        assert self._client is not None
        async for item in self._client:
            if isinstance(item, VideoFrame):
                await self._push_video(item)
            elif item.get("type") in {"policy.stopped", "error"}:
                await self.push_frame(ErrorFrame(error=f"lpm-guard: {item}"))
            elif item.get("type") == "session.closed":
                return

    async def _push_video(self, video: VideoFrame) -> None:
        bgr = cv2.imdecode(np.frombuffer(video.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            await self.push_frame(ErrorFrame(error="lpm-guard sent a frame that is not a JPEG"))
            return
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        image = OutputImageRawFrame(
            image=rgb.tobytes(), size=(rgb.shape[1], rgb.shape[0]), format="RGB"
        )
        image.pts = round(video.pts * 1e9)
        self.frames_received += 1
        await self.push_frame(image)
        if video.audio and any(video.audio):
            await self.push_frame(
                TTSAudioRawFrame(audio=video.audio, sample_rate=AUDIO_RATE, num_channels=1)
            )
