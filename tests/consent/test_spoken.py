"""The spoken checks with Whisper base behind pocketsphinx: a voice pocketsphinx does not
understand is heard. (The attacks, refused by pocketsphinx and then by the same rules on
Whisper's words: tests/consent/test_liveness.py.)"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from lpm_guard.consent.liveness import Outcome, Prompt, Step, new_script, spoken
from tests.consent import captures

RATE = 16_000
SCRIPT = new_script(rng=random.Random(0))  # digits "four eight seven three"
(DIGITS,) = SCRIPT.of(Prompt.DIGITS)
(STATEMENT,) = SCRIPT.of(Prompt.STATEMENT)
VOICE = "espeak:en-us"  # pocketsphinx hears espeak-ng's statements at 15-30 %


def _said(text: str) -> np.ndarray:
    return np.asarray(resample_poly(captures.tts(text, VOICE), 1, 3), dtype=np.float32)


def _digits(text: str) -> np.ndarray:
    step = Step(Prompt.DIGITS, 0.0, 1.0, text)  # one digit at a time, as people read them
    return np.asarray(resample_poly(captures.reading(step, VOICE), 1, 3), dtype=np.float32)


def _placed(parts: list[tuple[Step, np.ndarray]]) -> np.ndarray:
    out = np.zeros(int(SCRIPT.duration_s * RATE), np.float32)
    for step, samples in parts:
        i = int((step.start_s + 0.4) * RATE)
        piece = samples[: out.size - i]
        out[i : i + piece.size] += piece
    return out


def _decided_by_whisper(detail: str) -> bool:
    return detail.startswith(f"{spoken.POCKETSPHINX} heard") and detail.endswith(
        f"decided by {spoken.WHISPER}"
    )


@pytest.mark.slow
def test_an_espeak_ng_reading_pocketsphinx_refuses_is_heard_by_whisper() -> None:
    audio = _placed([(DIGITS, _digits(DIGITS.text)), (STATEMENT, _said(STATEMENT.text))])
    statement = spoken.statement_verdicts(audio, STATEMENT)
    assert [v.recogniser for v in statement] == [spoken.POCKETSPHINX, spoken.WHISPER]
    assert not statement[0].passed and statement[0].score < 0.5, statement[0]
    assert statement[1].passed and statement[1].score >= 0.8, statement[1]
    digits = spoken.check_digits(audio, SCRIPT)  # what the reviewer reads
    assert digits.outcome == Outcome.PASS, digits.detail
    assert _decided_by_whisper(digits.detail), digits.detail


@pytest.fixture
def altered_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Whisper base's pinned hash no longer matches the packaged halves (as when they are
    altered), in an empty model cache; the real model is loaded again afterwards."""
    from lpm_guard.policy._internal import whisper

    whisper._model.cache_clear()
    monkeypatch.setenv("LPM_POLICY_CACHE", str(tmp_path))
    monkeypatch.setattr(whisper, "MODEL_SHA256", "0" * 64)
    yield
    whisper._model.cache_clear()


def test_without_a_verified_whisper_the_check_refuses_on_pocketsphinx(altered_model: None) -> None:
    silent = np.zeros(int(SCRIPT.duration_s * RATE), np.float32)
    check = spoken.check_statement(silent, SCRIPT)
    assert check.outcome == Outcome.FAIL, check.detail
    assert "Whisper base unavailable" in check.detail, check.detail
    assert check.detail.endswith(f"decided by {spoken.POCKETSPHINX}"), check.detail


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["flite:slt", VOICE])
def test_a_negated_statement_is_a_refusal(voice: str) -> None:
    """Every word of the statement, in order, with "not" put in: it held all of them, so it
    passed (flite on pocketsphinx at 93 %, espeak-ng through Whisper at 100 %). A negation the
    statement does not have refuses it, whichever recogniser hears it."""
    negated = STATEMENT.text.replace("I agree", "I do not agree", 1)
    said = np.asarray(resample_poly(captures.tts(negated, voice), 1, 3), dtype=np.float32)
    audio = _placed([(STATEMENT, said)])
    heard = spoken.statement_verdicts(audio, STATEMENT)
    assert not heard[-1].passed, heard
    assert "negated" in heard[-1].summary, heard
    # The statement itself, in the same voice, still passes.
    plain = np.asarray(resample_poly(captures.tts(STATEMENT.text, voice), 1, 3), np.float32)
    assert spoken.statement_verdicts(_placed([(STATEMENT, plain)]), STATEMENT)[-1].passed
