"""Offline audio checks: limits, transcript through the text rules, speech proportion, language."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np

from ._internal.decode import decode_file
from ._internal.speech import RATE, Recogniser, Transcript, Word, speech_segments, transcribe
from .models import AudioDecision, Category, RuleId, Use
from .policy import Hit, Policy

UNINTELLIGIBLE = RuleId("unintelligible_speech.low_recogniser_confidence")
NOT_ENGLISH = RuleId("unintelligible_speech.not_english")
_PAD_S = 0.25  # around each speech segment, so word edges are not clipped
_JOIN_S = 0.4  # segments closer than this are decoded together
# The semantic layer reads only the words a recogniser gives at least even odds (Whisper's word
# probability, pocketsphinx's posterior): a doubted word is more likely misheard than not, and
# the classifier (trained on typed requests) scores the mishearing: espeak-ng's "god bless 'em,
# I hope I'll go on seeing them" came back from Whisper as "god bless my pope (0.28) ..." and
# read as impersonation at 0.92-0.97. The rules read every word.
SURE_WORD = 0.5


def transcript_hits(
    policy: Policy,
    utterances: list[str],
    *,
    semantic: bool = True,
    sure: list[str] | None = None,
) -> list[Hit]:
    """Each utterance, and each pair of neighbours, through the text rules (and the semantic
    layer, unless ``semantic`` is False). ``sure``, beside ``utterances``, is what the semantic
    layer reads of each instead: the words the recogniser is sure of (see ``SURE_WORD``).

    Pairs catch a request split by a pause; going no wider keeps words from far apart in a
    long recording from meeting in one rule.
    """
    hits: dict[RuleId, Hit] = {}
    kept = [(u, s) for u, s in zip(utterances, sure or utterances, strict=True) if u]
    windows = kept + [(f"{a} {b}", f"{c} {d}") for (a, c), (b, d) in pairwise(kept)]
    for text, reading in windows:
        found = policy.rule_hits(text)
        if not found and semantic:
            found = policy.semantic_hits(reading)
        for hit in found:
            hits.setdefault(hit.rule_id, hit)
    return list(hits.values())


def sure_words(transcript: Transcript) -> str:
    """The words a recogniser heard with probability at least ``SURE_WORD``."""
    return " ".join(w.text for w in transcript.words if w.prob >= SURE_WORD)


def unintelligible_hit(policy: Policy, speech_s: float, confidence: float | None) -> Hit | None:
    """Speech that silero-vad hears but pocketsphinx cannot follow (another language, mumbling)."""
    settings = policy.document.audio
    if speech_s < settings.min_speech_s:
        return None
    if confidence is not None and confidence >= settings.min_recogniser_confidence:
        return None
    return Hit(UNINTELLIGIBLE, Category.UNINTELLIGIBLE_SPEECH)


def check_audio_file(policy: Policy, path: Path | str, use: Use) -> AudioDecision:
    """Decode within the limits, find speech, transcribe it, and check what was said."""
    # (1): decode; a limit broken raises InputRejected.
    audio = decode_file(Path(path), policy.document.limits.audio)
    # (2): speech segments from silero-vad, merged when close.
    merged: list[tuple[float, float]] = []
    for start, end in speech_segments(audio.samples):
        if merged and start - merged[-1][1] < _JOIN_S:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    speech_s = sum(end - start for start, end in merged)
    # (3): each segment through pocketsphinx.
    transcripts: list[Transcript] = []
    recogniser = Recogniser(own=True)  # fresh: the result must not depend on earlier files
    bounds = [_bounds(start, end, len(audio.samples)) for start, end in merged]
    for a, b in bounds:
        transcripts.append(transcribe(audio.samples[a:b], a / RATE, recogniser))
    words: tuple[Word, ...] = tuple(w for t in transcripts for w in t.words)
    confidence = Transcript(words).confidence
    # (4): with Whisper, the same segments again: it hears real and synthetic voices that
    # pocketsphinx mishears (bench/asr.py); both transcripts go through the checks.
    heard = transcripts
    if policy.document.audio.offline_recogniser == "whisper":
        from ._internal import whisper

        heard = [whisper.transcribe(audio.samples[a:b], a / RATE) for a, b in bounds]
    # (5): the words through the text checks. With Whisper, pocketsphinx's words go through the
    # rules only: its misheard words (WER 38-84 % on real and espeak-ng voices) gave the semantic
    # layer nonsense to score, which it denied harmless English for (3 of 11 espeak-ng files).
    whispered = heard is not transcripts
    hits = transcript_hits(policy, [t.text for t in transcripts], semantic=not whispered)
    if whispered:
        for hit in transcript_hits(
            policy, [t.text for t in heard], sure=[sure_words(t) for t in heard]
        ):
            if hit.rule_id not in {h.rule_id for h in hits}:
                hits.append(hit)
    # (6): the language signal: Whisper's English probability, or pocketsphinx's confidence.
    if whispered and speech_s >= policy.document.audio.min_speech_s:
        from ._internal import whisper

        voiced = [audio.samples[a:b] for a, b in bounds]
        english = whisper.english_probability(np.concatenate(voiced))
        if english < policy.document.audio.min_whisper_english:
            hits.append(Hit(NOT_ENGLISH, Category.UNINTELLIGIBLE_SPEECH))
    elif not whispered:
        signal = unintelligible_hit(policy, speech_s, confidence)
        if signal is not None:
            hits.append(signal)
    decision = policy.decide(hits, use, allow_reason="transcript matched no rule")
    return AudioDecision(
        decision=decision,
        transcript=" ".join(t.text for t in heard if t.text),
        duration_s=audio.duration_s,
        sample_rate=audio.sample_rate,
        container=audio.container,
        speech_s=speech_s,
        speech_proportion=speech_s / audio.duration_s if audio.duration_s else 0.0,
        recogniser_confidence=confidence,
        spoken=tuple(
            (a / RATE, b / RATE, t.text) for (a, b), t in zip(bounds, heard, strict=True) if t.text
        ),
    )


def _bounds(start: float, end: float, length: int) -> tuple[int, int]:
    """A speech segment's samples, padded so that word edges are not clipped."""
    return max(0, int((start - _PAD_S) * RATE)), min(length, int((end + _PAD_S) * RATE))
