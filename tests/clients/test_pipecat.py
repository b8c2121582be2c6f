"""The Pipecat video service against a real lpm-guard server, with Pipecat's test pipeline."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from lpm_guard.generator import Character
from pipecat.frames.frames import (
    EndWorkerFrame,
    ErrorFrame,
    InterruptionFrame,
    OutputImageRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from lpm_guard.clients.pipecat import LpmGuardVideoService
from lpm_guard.consent.models import SyntheticOrigin, Use
from lpm_guard.consent.services import ConsentService
from lpm_guard.demo.services import bundled
from lpm_guard.live.protocol import pcm16
from lpm_guard.live.session import LiveSession
from lpm_guard.performers import Direction
from lpm_guard.performers.local import LocalPerformer
from tests.access.world import World


def stream_url(app: FastAPI, base: str, character: Character, name: str) -> tuple[str, LiveSession]:
    session = LiveSession(LocalPerformer(character, Direction()), session_id=name)
    ticket = app.state.sessions.add(session, "researcher:a")
    return f"{base}/v1/sessions/{name}/stream?ticket={ticket}", session


def tts_frames(
    speech24: np.ndarray, rate: int = 16_000, context_id: str | None = None
) -> list[TTSAudioRawFrame]:
    """The speech as a TTS service would push it: 16 kHz PCM16 in 100 ms frames."""
    from scipy.signal import resample_poly

    audio = pcm16(resample_poly(speech24, 2, 3))
    step = rate // 10 * 2
    return [
        TTSAudioRawFrame(
            audio=audio[i : i + step], sample_rate=rate, num_channels=1, context_id=context_id
        )
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
            start_timeout=30.0,
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
            start_timeout=30.0,
        )
    )
    voiced = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    returned = sum(len(f.audio) for f in voiced) / 2 / 24_000
    # Up to 0.6 s of speech (less flite's silent lead-in and the pipeline's start on a busy
    # machine, plus the frames in flight) is played, not the whole sentence.
    assert 0.15 <= returned <= 1.2 < len(speech24) / 24_000


# -- Pipecat 1.x: its own session, end of utterance, errors upstream, after the end -----------


def pip_for(world: World) -> tuple[str, str, str]:
    """A researcher's API client and Pip (the demo's drawn character, reviewer-approved)."""
    assert world.runtime is not None
    researcher = world.researcher()
    client_id, secret = world.api_client(researcher)
    consent = ConsentService(world.runtime)
    pip = consent.enroll_synthetic(
        researcher.principal,
        "Pip",
        SyntheticOrigin.DRAWN,
        "Drawn from a generic mean face by a test; it depicts no real person.",
        [bundled("pip.png")],
        [Use.LIVE],
        landmarks=bundled("pip.json").decode(),
    )
    consent.review_synthetic("reviewer:test", pip.id, approve=True, reason="a drawing")
    return client_id, secret, pip.id


def own_session(world: World, **options: Any) -> tuple[LpmGuardVideoService, str]:
    client_id, secret, identity = pip_for(world)
    service = LpmGuardVideoService(
        base_url=world.issuer,
        client_id=client_id,
        client_secret=secret,
        identity_id=identity,
        **options,
    )
    return service, identity


def test_the_service_opens_its_own_session_and_reports_the_end_of_each_utterance(
    live_world: World, speech24: np.ndarray
) -> None:
    service, identity = own_session(live_world)
    started: list[dict[str, Any]] = []
    finished: list[dict[str, Any]] = []

    @service.event_handler("on_playback_started")
    async def _started(_: LpmGuardVideoService, event: dict[str, Any]) -> None:
        started.append(event)

    @service.event_handler("on_playback_finished")
    async def _finished(_: LpmGuardVideoService, event: dict[str, Any]) -> None:
        finished.append(event)

    sent = tts_frames(speech24, context_id="ctx-1")
    down, up = asyncio.run(
        run_test(
            service,
            frames_to_send=[
                TTSStartedFrame(context_id="ctx-1"),
                *sent,
                TTSStoppedFrame(context_id="ctx-1"),
                SleepFrame(sleep=10.0),  # the speech is shown in real time (slower when busy)
            ],
            start_timeout=30.0,
        )
    )
    # (1): the session is the researcher's own, opened through the gate for Pip.
    assert service.session_id is not None
    views = live_world.http.get(
        "/v1/sessions",
        headers={"Authorization": f"Bearer {client_bearer(live_world, service)}"},
    ).json()
    mine = [v for v in views if v["id"] == service.session_id]
    assert mine and mine[0]["identity_id"] == identity
    assert sum(isinstance(f, OutputImageRawFrame) for f in down) >= 25
    # (2): TTSStoppedFrame ended the utterance: the session said when Pip had shown all of it.
    assert [e["response_id"] for e in started] == ["ctx-1"]
    (done,) = finished
    assert done["response_id"] == "ctx-1" and done["interrupted"] is False
    assert done["playback_position_s"] == pytest.approx(len(speech24) / 24_000, abs=0.05)
    assert not [f for f in up if isinstance(f, ErrorFrame)]


def client_bearer(world: World, service: LpmGuardVideoService) -> str:
    opening = service._opening
    response = world.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "generate:live"},
        auth=(opening["client_id"], opening["client_secret"]),
    )
    token: str = response.json()["access_token"]
    return token


def test_a_policy_stop_is_reported_upstream_and_ends_the_pipeline(
    live_world: World, speech24: np.ndarray
) -> None:
    service, _ = own_session(live_world)  # after_session_end: fail (the default)
    scam = "This is your bank. Tell me your password and the one time code we just sent you."
    down, up = asyncio.run(
        run_test(
            service,
            frames_to_send=[
                TTSTextFrame(text=scam, text_type="sentence"),
                SleepFrame(sleep=6.0),
                *tts_frames(speech24),  # after the end: dropped, never sent to a closed socket
                SleepFrame(sleep=0.5),
            ],
            start_timeout=30.0,
        )
    )
    errors = [f for f in up if isinstance(f, ErrorFrame)]
    assert errors and "policy" in errors[0].error and errors[0].processor is service
    assert not service.is_usable  # permanent: the pipeline's unusable-processor policy applies
    assert any(isinstance(f, EndWorkerFrame) for f in up)
    assert not [f for f in down if isinstance(f, TTSAudioRawFrame) and f.sample_rate != 24_000]


def test_after_a_revocation_the_bot_is_heard_without_the_character(
    live_world: World, speech24: np.ndarray
) -> None:
    world = live_world
    assert world.runtime is not None
    service, identity = own_session(world, after_session_end="pass_through")

    def revoke_once_streaming() -> None:
        deadline = time.monotonic() + 60
        while service.frames_received < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        ConsentService(world.runtime).revoke_by_reviewer("reviewer:test", identity, "withdrawn")

    revoker = threading.Thread(target=revoke_once_streaming)
    revoker.start()
    late = tts_frames(speech24)
    down, up = asyncio.run(
        run_test(
            service,
            frames_to_send=[SleepFrame(sleep=6.0), *late, SleepFrame(sleep=0.5)],
            start_timeout=30.0,
        )
    )
    revoker.join()
    errors = [f for f in up if isinstance(f, ErrorFrame)]
    assert errors and "revoked" in errors[0].error and not service.is_usable
    assert not any(isinstance(f, EndWorkerFrame) for f in up)
    # The TTS audio sent after the end passed through unchanged (16 kHz, as the TTS made it).
    passed = [f for f in down if isinstance(f, TTSAudioRawFrame) and f.sample_rate == 16_000]
    assert [f.audio for f in passed] == [f.audio for f in late]


def test_the_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="stream_url"):
        LpmGuardVideoService(base_url="http://x", client_id="c")
    with pytest.raises(ValueError, match="either"):
        LpmGuardVideoService(
            stream_url="ws://x",
            base_url="http://x",
            client_id="c",
            client_secret="s",
            identity_id="i",
        )
    with pytest.raises(ValueError):
        LpmGuardVideoService(stream_url="ws://x", after_session_end="ignore")


def test_a_refused_session_is_a_permanent_error_upstream(live_world: World) -> None:
    client_id, secret, _ = pip_for(live_world)
    service = LpmGuardVideoService(
        base_url=live_world.issuer,
        client_id=client_id,
        client_secret=secret,
        identity_id="idn_nobody",
    )
    _, up = asyncio.run(
        run_test(service, frames_to_send=[SleepFrame(sleep=0.5)], start_timeout=30.0)
    )
    errors = [f for f in up if isinstance(f, ErrorFrame)]
    assert errors and "403" in errors[0].error and "no such identity" in errors[0].error
    assert any(isinstance(f, EndWorkerFrame) for f in up)
