"""A Pipecat (1.x) video service: the bot's TTS audio drives an lpm-guard character.

Put it after the TTS service in a pipeline. Given an API client's credentials and an identity it
opens its own live session through the gate when the pipeline starts (or it takes a
``stream_url`` opened elsewhere). It sends the bot's speech (and its text, which the session's
policy checks) to the session, swallows the TTS audio, and pushes what comes back instead: each
video frame as an ``OutputImageRawFrame`` and that frame's slice of the same speech as a
``TTSAudioRawFrame``, so picture and sound leave in sync. ``TTSStoppedFrame`` tells the session
the bot finished its reply (end of utterance); an ``InterruptionFrame`` cancels the character's
speech at once; the user's microphone (``InputAudioRawFrame``) lets the character listen.

Errors go upstream with ``push_error``. A session the policy stopped, whose consent or access
was revoked, or whose quota ran out leaves the service unable to do its job
(``force_treat_as_permanent``: the pipeline's ``ProcessorUnusablePolicy`` applies). Once the
session has ended, TTS audio is never swallowed into a closed socket: ``after_session_end``
says whether it passes through unchanged (the bot is heard without the character) or whether
the pipeline ends (``EndWorkerFrame``), which is the default. Install with the ``pipecat`` extra.

Event handlers: ``on_playback_started(service, event)`` and ``on_playback_finished(service,
event)`` with the session's ``output_audio_buffer.started`` / ``.stopped`` events (position
shown, interrupted), ``on_session_closed(service, reason, detail)``.
"""

from __future__ import annotations

import asyncio
import contextlib
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
import soxr
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputImageRawFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.ai_service import AIService

from ..live.protocol import AUDIO_RATE, VideoFrame
from .live import LiveClient, SessionRefused, open_session

# Why a session ended that leaves the service unable to go on: the gate said no.
FATAL_REASONS = frozenset({"policy", "revoked", "quota"})


class AfterSessionEnd(StrEnum):
    FAIL = "fail"  # the pipeline ends (an EndWorkerFrame upstream); TTS audio is dropped
    PASS_THROUGH = "pass_through"  # noqa: S105 (TTS audio goes on downstream, without video)


class LpmGuardVideoService(AIService):
    def __init__(
        self,
        *,
        base_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        identity_id: str | None = None,
        instructions: str | None = None,
        size: str = "512x512",
        fps: int = 25,
        stream_url: str | None = None,
        forward_user_audio: bool = True,
        after_session_end: AfterSessionEnd | str = AfterSessionEnd.FAIL,
        **kwargs: Any,
    ) -> None:
        """Either ``base_url``, ``client_id``, ``client_secret`` (an API client of a researcher
        with live access) and ``identity_id``: the service opens its own session when the
        pipeline starts (``instructions``, ``size``, ``fps`` as ``POST /v1/sessions`` takes
        them); or ``stream_url``, a session's ``ws://…/stream?ticket=…`` opened elsewhere.
        ``forward_user_audio``: let the character listen to the user's microphone too."""
        super().__init__(**kwargs)
        credentials = (base_url, client_id, client_secret, identity_id)
        if stream_url is None and not all(credentials):
            raise ValueError(
                "give base_url, client_id, client_secret and identity_id (or a stream_url)"
            )
        if stream_url is not None and any(credentials):
            raise ValueError("give either credentials and an identity, or a stream_url")
        self._opening: dict[str, Any] = {
            "base_url": base_url,
            "client_id": client_id,
            "client_secret": client_secret,
            "identity_id": identity_id,
            "instructions": instructions,
            "size": size,
            "fps": fps,
        }
        self._url = stream_url
        self._forward_user = forward_user_audio
        self._after_end = AfterSessionEnd(after_session_end)
        self._client: LiveClient | None = None
        self._connection: Any = None
        self._receiver: asyncio.Task[None] | None = None
        self._resamplers: dict[tuple[str, int], soxr.ResampleStream] = {}
        self._ended = False  # the session is over: nothing more goes to it
        self._closing = False  # the pipeline is ending it
        self.session_id: str | None = None
        self.frames_received = 0
        for name in ("on_playback_started", "on_playback_finished", "on_session_closed"):
            self._register_event_handler(name)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if self._url is None:
            try:
                opened = await asyncio.to_thread(
                    open_session,
                    self._opening["base_url"],
                    self._opening["client_id"],
                    self._opening["client_secret"],
                    self._opening["identity_id"],
                    instructions=self._opening["instructions"],
                    size=self._opening["size"],
                    fps=self._opening["fps"],
                )
            except (SessionRefused, OSError) as exc:
                await self._end(f"lpm-guard refused the session: {exc}", fatal=True, cause=exc)
                return
            self._url, self.session_id = opened.stream_url, opened.session_id
        try:
            self._connection = LiveClient.connect(self._url)
            self._client = await self._connection.__aenter__()
        except OSError as exc:
            self._connection = None
            await self._end(f"lpm-guard: cannot open the stream: {exc}", fatal=True, cause=exc)
            return
        self._receiver = self.create_task(self._receive())

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)
        await self._disconnect()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._disconnect()

    async def _disconnect(self) -> None:
        self._closing = True
        if self._client is not None and not self._ended:
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
        self._ended = True

    async def _end(self, message: str, *, fatal: bool, cause: Exception | None = None) -> None:
        """The session is over (or never began): report it upstream, and end the pipeline if
        the service is set to fail rather than pass the bot's audio through."""
        self._ended = True
        await self.push_error(
            message, exception=cause, force_treat_as_permanent=fatal or self._fails
        )
        if self._fails:
            await self.push_frame(EndWorkerFrame(reason=message), FrameDirection.UPSTREAM)

    @property
    def _fails(self) -> bool:
        return self._after_end is AfterSessionEnd.FAIL

    # -- frames in ---------------------------------------------------------------------------

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
        client = None if self._ended else self._client
        if isinstance(frame, TTSAudioRawFrame):
            if client is not None:
                await client.speak(self._to_session_rate(frame, "bot"), frame.context_id)
                return  # the character's own, frame-aligned copy comes back instead
            if self._ended and self._fails:
                return  # the pipeline is ending; nothing may reach a closed session
            # passing through: the bot is heard without the character
        elif client is not None:
            if isinstance(frame, TTSTextFrame):
                await client.transcript(frame.text)
            elif isinstance(frame, TTSStoppedFrame):
                await client.done(frame.context_id)  # end of utterance
            elif isinstance(frame, InterruptionFrame):
                await client.cancel()
                for key in [k for k in self._resamplers if k[0] == "bot"]:
                    del self._resamplers[key]  # the next speech starts a fresh stream
            elif isinstance(frame, InputAudioRawFrame) and self._forward_user:
                await client.hear(self._to_session_rate(frame, "user"))
        await self.push_frame(frame, direction)

    # -- the session's messages --------------------------------------------------------------

    async def _receive(self) -> None:
        assert self._client is not None
        closed: tuple[str, str] | None = None
        stopped_by_policy = ""
        try:
            async for item in self._client:
                if isinstance(item, VideoFrame):
                    await self._push_video(item)
                    continue
                kind = item.get("type")
                if kind == "output_audio_buffer.started":
                    await self._call_event_handler("on_playback_started", item)
                elif kind == "output_audio_buffer.stopped":
                    await self._call_event_handler("on_playback_finished", item)
                elif kind == "policy.stopped":
                    stopped_by_policy = str(item.get("reason", ""))
                elif kind == "error":
                    error = item.get("error") or {}
                    await self.push_error(f"lpm-guard: {error.get('message', error)}")
                elif kind == "session.closed":
                    closed = (str(item.get("reason")), str(item.get("detail") or ""))
                    break
        except OSError as exc:
            if not self._closing:
                await self._end(f"lpm-guard: the stream broke: {exc}", fatal=True, cause=exc)
            return
        if self._closing:
            return
        if closed is None:
            await self._end("lpm-guard: the stream ended without closing", fatal=True)
            return
        reason, detail = closed
        await self._call_event_handler("on_session_closed", reason, detail)
        detail = stopped_by_policy or detail
        await self._end(
            f"lpm-guard session closed: {reason}" + (f" ({detail})" if detail else ""),
            fatal=reason in FATAL_REASONS,
        )

    async def _push_video(self, video: VideoFrame) -> None:
        bgr = cv2.imdecode(np.frombuffer(video.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            await self.push_error("lpm-guard sent a frame that is not a JPEG")
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
