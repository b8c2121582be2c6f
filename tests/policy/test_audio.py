"""Audio files: flite speech through pocketsphinx and the text rules; limits; other languages."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from lpm_guard.policy import Action, Category, InputRejected, Policy, Use
from lpm_guard.policy.audio import transcript_hits

from tests.policy.conftest import POLICY_FILE, espeak, read_wav, speak, write_wav

pytestmark = pytest.mark.slow

ALLOWED = "Good morning everyone. Today we will talk about the weather in London."
DISALLOWED = "Please pretend to be the president and tell everyone the election is cancelled."


def test_an_allowed_phrase_is_allowed_with_its_measurements(policy: Policy, tmp_path: Path) -> None:
    path = speak(tmp_path / "ok.wav", ALLOWED, "rms")
    result = policy.check_audio_file(path, Use.OFFLINE)
    assert result.action is Action.ALLOW, result.decision.reason
    assert "weather" in result.transcript and "london" in result.transcript
    assert result.container == "wav" and result.sample_rate == 16000
    samples, rate = read_wav(path)
    assert result.duration_s == pytest.approx(len(samples) / rate, abs=0.05)
    assert 0.6 < result.speech_proportion <= 1.0
    assert result.recogniser_confidence is not None and result.recogniser_confidence > 0.7
    assert result.decision.policy_hash == policy.hash
    # The transcript with its timing, stretch by stretch, inside the audio and in order.
    assert " ".join(words for _, _, words in result.spoken) == result.transcript
    ends = [t for start, end, _ in result.spoken for t in (start, end)]
    assert ends == sorted(ends) and 0.0 <= ends[0] < ends[-1] <= result.duration_s + 1e-6


def test_a_disallowed_phrase_is_denied(policy: Policy, tmp_path: Path) -> None:
    path = speak(tmp_path / "bad.wav", DISALLOWED, "awb")
    result = policy.check_audio_file(path, Use.OFFLINE)
    assert result.action is Action.DENY
    assert {Category.IMPERSONATION, Category.ELECTIONS} <= set(result.decision.categories)
    assert "president" in result.transcript


def test_speech_proportion_counts_silence(policy: Policy, tmp_path: Path) -> None:
    samples, rate = read_wav(speak(tmp_path / "s.wav", ALLOWED, "slt"))
    padded = np.concatenate([np.zeros(rate * 4, np.int16), samples, np.zeros(rate * 4, np.int16)])
    result = policy.check_audio_file(write_wav(tmp_path / "p.wav", padded, rate), Use.OFFLINE)
    speech = len(samples) / len(padded)
    assert result.speech_proportion == pytest.approx(speech, abs=0.12)
    assert result.action is Action.ALLOW


def test_other_languages_are_flagged_per_use(policy: Policy, tmp_path: Path) -> None:
    path = espeak(
        tmp_path / "de.wav",
        "Guten Tag, wie geht es Ihnen heute? Es ist sehr kalt.",
        "de",
    )
    offline = policy.check_audio_file(path, Use.OFFLINE)
    # Offline files: Whisper's language detection is the signal (policy.toml [audio]).
    assert offline.decision.rule_ids == ("unintelligible_speech.not_english",)
    assert offline.action is Action.REVIEW  # per the policy file: review offline, deny live
    assert policy.check_audio_file(path, Use.LIVE).action is Action.DENY


def test_whisper_tells_espeak_english_from_spanish_where_pocketsphinx_could_not(
    policy: Policy, tmp_path: Path
) -> None:
    # pocketsphinx's confidence flagged this espeak-ng English as unintelligible (0.27) and
    # passed this Spanish (0.65); Whisper's English probability: about 0.7 and 0.02.
    english = espeak(tmp_path / "en.wav", "author of the danger trail philip steels etc", "en-us")
    decision = policy.check_audio_file(english, Use.OFFLINE)
    assert decision.action is Action.ALLOW, decision.decision
    assert decision.recogniser_confidence is not None
    assert decision.recogniser_confidence < policy.document.audio.min_recogniser_confidence
    spanish = espeak(
        tmp_path / "es.wav", "Buenos días, quiero hablar del tiempo en Madrid hoy.", "es"
    )
    held = policy.check_audio_file(spanish, Use.OFFLINE)
    assert held.decision.rule_ids == ("unintelligible_speech.not_english",)
    assert held.action is Action.REVIEW


def test_silence_is_not_flagged_as_another_language(policy: Policy, tmp_path: Path) -> None:
    noise = (np.random.default_rng(0).normal(0, 30, 16000 * 3)).astype(np.int16)
    result = policy.check_audio_file(write_wav(tmp_path / "quiet.wav", noise, 16000), Use.LIVE)
    assert result.action is Action.ALLOW
    assert result.speech_proportion < 0.2


def test_a_wrong_sample_rate_is_refused(policy: Policy, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "low.wav", np.zeros(8000 * 2, np.int16), 8000)
    with pytest.raises(InputRejected, match="sample rate 8000 Hz is outside") as raised:
        policy.check_audio_file(path, Use.OFFLINE)
    assert raised.value.limit == "audio.sample_rate"


def test_a_wrong_format_is_refused(policy: Policy, tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("these are not samples\n" * 100)
    with pytest.raises(InputRejected, match="not a readable audio file") as raised:
        policy.check_audio_file(text, Use.OFFLINE)
    assert raised.value.limit == "audio.decode"
    # A real audio container the policy does not list.
    aiff = tmp_path / "clip.aiff"
    with av.open(str(aiff), "w", format="aiff") as out:
        stream = out.add_stream("pcm_s16be", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 16000), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(InputRejected, match="container 'aiff' is not one of") as raised:
        policy.check_audio_file(aiff, Use.OFFLINE)
    assert raised.value.limit == "audio.container"


def test_too_long_and_too_short_are_refused(tmp_path: Path) -> None:
    text = POLICY_FILE.read_text("utf-8").replace("max_duration_s = 600.0", "max_duration_s = 2.0")
    (tmp_path / "p.toml").write_text(text, "utf-8")
    strict = Policy.load(tmp_path / "p.toml")
    long = write_wav(tmp_path / "long.wav", np.zeros(16000 * 3, np.int16), 16000)
    with pytest.raises(InputRejected, match="longer than the limit of 2 s") as raised:
        strict.check_audio_file(long, Use.OFFLINE)
    assert raised.value.limit == "audio.duration"
    short = write_wav(tmp_path / "short.wav", np.zeros(1600, np.int16), 16000)
    with pytest.raises(InputRejected, match=r"minimum is 0\.3 s"):
        strict.check_audio_file(short, Use.OFFLINE)


def test_a_file_over_the_byte_limit_is_refused_unopened(tmp_path: Path) -> None:
    text = POLICY_FILE.read_text("utf-8").replace("max_bytes = 100_000_000", "max_bytes = 1000")
    (tmp_path / "p.toml").write_text(text, "utf-8")
    strict = Policy.load(tmp_path / "p.toml")
    path = write_wav(tmp_path / "a.wav", np.zeros(16000, np.int16), 16000)
    with pytest.raises(InputRejected, match="limit is 1000") as raised:
        strict.check_audio_file(path, Use.OFFLINE)
    assert raised.value.limit == "audio.bytes"
    with pytest.raises(InputRejected, match="cannot read audio file"):
        strict.check_audio_file(tmp_path / "absent.wav", Use.OFFLINE)


def test_whisper_hears_an_espeak_voice_that_pocketsphinx_mishears(
    policy: Policy, tmp_path: Path
) -> None:
    from lpm_guard.policy._internal import speech

    path = espeak(
        tmp_path / "robot.wav", "Read me the password to your bank account right now.", "en-us"
    )
    samples, _ = read_wav(path)
    # pocketsphinx alone: no "password" in what it hears, so the rules would not fire on it.
    assert "password" not in speech.transcribe(samples, 0.0, speech.Recogniser(own=True)).text
    result = policy.check_audio_file(path, Use.OFFLINE)
    assert result.action is Action.DENY
    assert "fraud.credentials" in result.decision.rule_ids
    assert "password" in result.transcript  # Whisper's words


def test_the_semantic_layer_reads_only_the_words_the_recogniser_is_sure_of(policy: Policy) -> None:
    # Whisper's reading of espeak-ng's "god bless 'em, I hope I'll go on seeing them forever",
    # with the words it gave less than even odds (god 0.26, pope 0.28, want 0.25) left out.
    heard = "god bless my pope i don't want to see him forever"
    sure = "bless my i don't to see him forever"
    assert [h.rule_id for h in transcript_hits(policy, [heard])] == ["impersonation.semantic"]
    assert transcript_hits(policy, [heard], sure=[sure]) == []
    # The rules still read every word, the doubted ones too.
    threat = transcript_hits(policy, ["i will shoot you tonight"], sure=["i you tonight"])
    assert [h.layer for h in threat] == ["rules"]
