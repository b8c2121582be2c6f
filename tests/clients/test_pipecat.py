"""The Pipecat video service against a real lpm-guard server, with Pipecat's test pipeline."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from fastapi import FastAPI
from lpm_guard.generator import Character
from pipecat.frames.frames import (
    InterruptionFrame,
    OutputImageRawFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from lpm_guard.clients.pipecat import LpmGuardVideoService
from lpm_guard.sessions.live import LiveSession
from lpm_guard.sessions.protocol import pcm16


def stream_url(app: FastAPI, base: str, character: Character, name: str) -> tuple[str, LiveSession]:
    session = LiveSession(character, session_id=name)
    ticket = app.state.sessions.add(session, "researcher:a")
    return f"{base}/v1/sessions/{name}/stream?ticket={ticket}", session


def tts_frames(speech24: np.ndarray, rate: int = 16_000) -> list[TTSAudioRawFrame]:
    """The speech as a TTS service would push it: 16 kHz PCM16 in 100 ms frames."""
    from scipy.signal import resample_poly

    audio = pcm16(resample_poly(speech24, 2, 3))
    step = rate // 10 * 2
    return [
        TTSAudioRawFrame(audio=audio[i : i + step], sample_rate=rate, num_channels=1)
        for i in range(0, len(audio), step)
    ]


def test_tts_audio_comes_back_as_frames_with_their_audio(
    app: FastAPI, base: str, character: Character, speech24: np.ndarray
) -> None:
    url, session = stream_url(app, base, character, "pipecat-1")
    service = LpmGuardVideoService(stream_url=url)
    sent = tts_frames(speech24)
    down, _ = asyncio.run(
        run_test(
            service,
            frames_to_send=[
                TTSTextFrame(text="Papa made a palm basket", text_type="word"),
                *sent,
                SleepFrame(sleep=5.0),
            ],
            start_timeout=10.0,
        )
    )
    images = [f for f in down if isinstance(f, OutputImageRawFrame)]
    voiced = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert len(images) >= 50
    assert images[0].size == (512, 512) and len(images[0].image) == 512 * 512 * 3
    # The TTS frames were swallowed; what comes back is the same speech at 24 kHz, cut to
    # the frames (frames of pure silence, such as flite's lead-in, carry no audio frame).
    assert all(f.sample_rate == 24_000 for f in voiced)
    returned = np.frombuffer(b"".join(f.audio for f in voiced), "<i2") / 32768.0
    seconds = len(speech24) / 24_000
    assert seconds - 0.35 <= len(returned) / 24_000 <= seconds + 0.05
    assert np.sqrt(np.mean(returned**2)) > 0.5 * np.sqrt(np.mean(speech24**2))
    assert session.stats.agent_seconds == pytest.approx(len(speech24) / 24_000, abs=0.05)


def test_an_interruption_stops_the_character_speaking(
    app: FastAPI, base: str, character: Character, speech24: np.ndarray
) -> None:
    url, _ = stream_url(app, base, character, "pipecat-2")
    service = LpmGuardVideoService(stream_url=url)
    down, _ = asyncio.run(
        run_test(
            service,
            frames_to_send=[
                *tts_frames(speech24),
                SleepFrame(sleep=0.6),
                InterruptionFrame(),
                SleepFrame(sleep=1.5),
            ],
            start_timeout=10.0,
        )
    )
    voiced = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    returned = sum(len(f.audio) for f in voiced) / 2 / 24_000
    # About 0.6 s of speech (plus the frames in flight) is played, not the whole sentence.
    assert 0.3 <= returned <= 1.2 < len(speech24) / 24_000
