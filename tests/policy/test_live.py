"""LiveChecker: a disallowed utterance in a stream is denied within 3 s of stream time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from lpm_guard.policy import Action, Category, InputRejected, LiveChecker, Policy, Use

from tests.policy.conftest import espeak, read_wav, speak

pytestmark = pytest.mark.slow

CHUNK_S = 0.02  # 20 ms chunks, as a voice platform sends them


def stream(checker: LiveChecker, samples: npt.NDArray[np.int16], rate: int) -> None:
    step = int(rate * CHUNK_S)
    for i in range(0, len(samples), step):
        checker.feed_audio(samples[i : i + step].tobytes(), rate)


def test_a_disallowed_utterance_is_denied_within_3_s(policy: Policy, tmp_path: Path) -> None:
    benign, rate = read_wav(speak(tmp_path / "a.wav", "Thanks for joining the call today.", "slt"))
    bad, _ = read_wav(
        speak(tmp_path / "b.wav", "I know where you live and I will shoot you.", "rms")
    )
    gap = np.zeros(rate, np.int16)
    checker = policy.live_checker()
    stream(checker, np.concatenate([gap, benign, gap]), rate)
    assert checker.decision.action is Action.ALLOW
    start = checker.stream_time_s
    end_of_utterance = start + len(bad) / rate
    stream(checker, np.concatenate([bad, gap, gap, gap]), rate)
    assert checker.decision.action is Action.DENY
    assert Category.VIOLENCE in checker.decision.categories
    assert checker.denied_at_s is not None
    assert start < checker.denied_at_s <= end_of_utterance + 3.0
    # Sticky: more harmless audio does not lift it.
    stream(checker, np.concatenate([benign, gap]), rate)
    assert checker.finish().action is Action.DENY


def test_a_harmless_stream_at_another_rate_stays_allowed(policy: Policy, tmp_path: Path) -> None:
    samples, _ = read_wav(
        speak(tmp_path / "a.wav", "Let us talk about gardening and tomatoes.", "awb")
    )
    # 48 kHz float chunks: resampled inside the checker.
    resampled = np.interp(np.arange(0, len(samples), 1 / 3), np.arange(len(samples)), samples)
    floats = (resampled / 32768.0).astype(np.float32)
    checker = LiveChecker(policy)
    for i in range(0, len(floats), 960):
        checker.feed_audio(floats[i : i + 960], 48000)
    decision = checker.finish()
    assert decision.action is Action.ALLOW, decision.reason
    assert "tomatoes" in checker.transcript
    assert checker.speech_s > 1.0


def test_a_half_heard_sentence_goes_through_the_rules_only(policy: Policy, tmp_path: Path) -> None:
    # Partial transcripts ("kill the ...") read as violence to the semantic layer, which was
    # trained on whole typed requests; it reads the utterance once it ends.
    samples, rate = read_wav(
        speak(tmp_path / "a.wav", "Kill the lights before the movie starts.", "awb")
    )
    checker = policy.live_checker()
    stream(checker, np.concatenate([samples, np.zeros(rate, np.int16)]), rate)
    decision = checker.finish()
    assert decision.action is Action.ALLOW, decision.reason
    assert "lights" in checker.transcript


def test_a_stream_that_ends_as_an_utterance_opens_finishes(policy: Policy, tmp_path: Path) -> None:
    # In 20 ms chunks this stream ends with an utterance open and no hypothesis in it, where
    # pocketsphinx's seg() is None: finish() raised TypeError (a live session then failed).
    first, rate = read_wav(speak(tmp_path / "a.wav", "Thanks for joining the call today.", "slt"))
    second, _ = read_wav(
        speak(tmp_path / "b.wav", "Kill the lights before the movie starts.", "slt")
    )
    gap = np.zeros(rate // 2, np.int16)
    checker = policy.live_checker()
    stream(checker, np.concatenate([first, gap, second, gap]), rate)
    assert checker.finish().action is Action.ALLOW


def test_a_supplied_transcript_is_checked_but_never_trusted_alone(
    policy: Policy, tmp_path: Path
) -> None:
    # A disallowed transcript denies at once.
    checker = policy.live_checker()
    assert (
        checker.feed_transcript("Say we will behead the hostages one by one").action is Action.DENY
    )
    # A harmless transcript does not cover disallowed audio.
    bad, rate = read_wav(
        speak(tmp_path / "b.wav", "I know where you live and I will shoot you.", "rms")
    )
    checker = policy.live_checker()
    assert checker.feed_transcript("Thanks for joining the call today").action is Action.ALLOW
    stream(checker, np.concatenate([bad, np.zeros(rate, np.int16)]), rate)
    assert checker.finish().action is Action.DENY


def test_another_language_is_denied_live(policy: Policy, tmp_path: Path) -> None:
    samples, rate = read_wav(
        espeak(
            tmp_path / "fr.wav", "Bonjour à tous, je voudrais parler du marché de ce matin.", "fr"
        )
    )
    checker = policy.live_checker()
    stream(checker, np.concatenate([samples, np.zeros(rate, np.int16)]), rate)
    decision = checker.finish()
    assert decision.action is Action.DENY
    assert decision.categories == (Category.UNINTELLIGIBLE_SPEECH,)
    offline = policy.live_checker(Use.OFFLINE)
    stream(offline, samples, rate)
    assert offline.finish().action is Action.REVIEW


def test_bad_chunks_are_refused(policy: Policy) -> None:
    checker = policy.live_checker()
    with pytest.raises(InputRejected, match="outside"):
        checker.feed_audio(b"\x00\x00" * 80, 8000)
    checker.feed_audio(b"\x00\x00" * 320, 16000)
    with pytest.raises(InputRejected, match="changed mid-stream"):
        checker.feed_audio(b"\x00\x00" * 441, 22050)
    with pytest.raises(InputRejected, match="whole 16-bit samples"):
        checker.feed_audio(b"\x00\x00\x00", 16000)
    with pytest.raises(InputRejected, match="mono"):
        checker.feed_audio(np.zeros((2, 320), np.int16), 16000)


def test_the_streaming_vad_hears_as_silero_s_own_model_in_any_chunks(tmp_path: Path) -> None:
    """The live check's voice activity (silero-vad's sequence ONNX model, every whole window a
    chunk brings in one call) gives the probabilities of silero's streaming JIT model run one
    window at a time, whatever the chunking: speech heard as speech, silence as silence."""
    import torch
    from lpm_guard.policy._internal.speech import RATE, VAD_FRAME, StreamingVad
    from silero_vad import load_silero_vad

    speech, rate = read_wav(speak(tmp_path / "a.wav", "We ate apples in the shade.", "slt"))
    assert rate == RATE
    samples = np.concatenate([np.zeros(RATE // 2, np.int16), speech, np.zeros(RATE, np.int16)])
    model = load_silero_vad()
    whole = len(samples) // VAD_FRAME * VAD_FRAME
    with torch.no_grad():
        reference = np.array(
            [
                float(model(torch.from_numpy(w.astype(np.float32) / 32768.0), RATE).item())
                for w in samples[:whole].reshape(-1, VAD_FRAME)
            ]
        )
    vad = StreamingVad()
    heard: list[float] = []
    sizes = [7, 320, 1024, 513, 2048, 160]  # shorter, longer and across windows
    at = 0
    for n in range(10_000):
        if at >= len(samples):
            break
        heard += vad.feed(samples[at : at + sizes[n % len(sizes)]])
        at += sizes[n % len(sizes)]
    assert len(heard) == len(reference)
    assert np.max(np.abs(np.array(heard) - reference)) < 1e-4
    assert max(heard) > 0.9  # the sentence
    assert max(heard[: RATE // 2 // VAD_FRAME - 1]) < 0.1  # the silence before it
