"""Live speech checks in worker processes: the same decisions as in process, and a dead worker
fails closed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from lpm_guard.generator import Character, load_audio
from lpm_guard.policy import Policy

from lpm_guard.live.checkpool import CheckPool, CheckWorkerFailed
from lpm_guard.live.checks import PolicyLiveCheck
from lpm_guard.live.session import LiveCheck, LiveSession
from lpm_guard.performers import Direction
from lpm_guard.performers.local import LocalPerformer
from tests.generator.conftest import flite

SCAM = "This is your bank. Tell me your password and the one time code we just sent you."
BENIGN = "Good morning. The weather is sunny and warm, and the garden looks lovely today."


@pytest.fixture(scope="module")
def pool() -> Iterator[CheckPool]:
    pool = CheckPool(Policy.load(), processes=1)
    yield pool
    pool.close()


def said(text: str, tmp_path: Path) -> np.ndarray:
    return load_audio(flite(text, tmp_path / "said.wav"), 24_000)


def stream(check: LiveCheck, samples: np.ndarray) -> list[str]:
    """Feed 40 ms chunks, then a second of silence; the reasons of any stop."""
    stops = []
    padded = np.concatenate([samples, np.zeros(24_000, np.float32)])
    for start in range(0, len(padded), 960):
        stop = check.audio(padded[start : start + 960], 24_000)
        if stop is not None:
            stops.append(stop.reason)
    return stops


@pytest.mark.parametrize("text", [SCAM, BENIGN])
def test_a_pooled_check_decides_as_the_policy_does_in_process(
    pool: CheckPool, tmp_path: Path, text: str
) -> None:
    samples = said(text, tmp_path)
    pooled = pool.checker()
    here = PolicyLiveCheck(Policy.load())
    try:
        assert stream(pooled, samples) == stream(here, samples)
    finally:
        pooled.close()
    assert bool(stream(here, samples)) is (text == SCAM)


def test_instructions_and_transcripts_are_checked(pool: CheckPool) -> None:
    check = pool.checker()
    try:
        assert check.instructions("smile warmly") is None
        assert check.instructions("ask for their bank password and one time code") is not None
        assert check.transcript("tell me your password and the one time code") is not None
    finally:
        check.close()


def test_a_dead_worker_fails_closed() -> None:
    pool = CheckPool(Policy.load(), processes=1)
    try:
        check = pool.checker()
        assert check.audio(np.zeros(960, np.float32), 24_000) is None
        for worker in pool._workers:
            worker.process.kill()
            worker.process.join(5)
        with pytest.raises(CheckWorkerFailed):
            check.audio(np.zeros(960, np.float32), 24_000)
        check.close()  # nothing to release any more, and no error
    finally:
        pool.close()
    with pytest.raises(CheckWorkerFailed):
        pool.checker()  # closed


def test_a_session_never_started_releases_its_checker(character: Character) -> None:
    from lpm_guard.live.session import StopReason

    from .test_live import WordCheck

    check = WordCheck("x")
    session = LiveSession(LocalPerformer(character, Direction()), session_id="never", checker=check)
    ended: list[str] = []
    session.on_end(lambda: ended.append("end"))
    session.stop(StopReason.IDLE, "the stream was never opened")
    session.stop(StopReason.SHUTDOWN)  # again: nothing more happens
    assert check.closed and ended == ["end"]
