"""The digits and the statement were spoken, each in its own window: pocketsphinx on a grammar,
then Whisper base where pocketsphinx refuses.

pocketsphinx (its US English model ships in the wheel) hears random words poorly with its
general language model, so each window is decoded against a grammar: a free loop over the
words expected there and distractors. The distractors matter as much as the expected words:
speech that is not the expected text is heard as distractors instead of being bent into it.
Where that decode refuses, Whisper base (the policy's packaged, sha256-pinned model; ~1.1-1.5
s of one core per window) writes a free transcript of the same window, never told what to
expect, and the same rules judge it; the check's detail gives both hearings and which decided.
None of the real voices or flite readings measured needed it.

- ``digits``: the ten digit words plus hesitations. At least 3 of the 4 digits heard in
  order, and at most 4 digit words besides (pocketsphinx inserts a short digit into a pause
  now and then: "seven, seven" heard as "seven two seven"; reciting all ten does not pass).
  Whisper writes digits as numerals ("4, 8, 7, 3"): each figure counts as its digit word.
- ``statement``: the statement's words, the digit words, a few fillers and common words, and
  negations. At least 50 % of the statement's words heard in order (longest common
  subsequence), and no negation the statement does not have: "I do not agree that this
  researcher may ..." holds every word of it in order, and passed (flite on pocketsphinx 93 %,
  espeak-ng through Whisper 100 %) until a heard "not" refused it. pocketsphinx's grammar
  may hear the negation as digit words ("I nine agree"), so its hearing passes only without
  digit words among the statement's; otherwise Whisper hears the window again. With both
  rules (``bench/consent_speech.py --quick``): the negated statement 0 of 8 accepted; real
  voices 11 of 11 (3 through Whisper), flite 2 of 2 (1), espeak-ng 2 of 2 (2).

Measured with pocketsphinx alone (threshold 50 %): real voices (CMU ARCTIC slt/awb,
../shared/speech, each of the 11 prompts as its own "statement") 55-100 %, median 73 %;
flite's four voices reading the statement 85-96 %, the bona fide proxy (slt over room noise,
through Opus) 78 %. espeak-ng's six English voices: 2 of 18 digit readings and 1 of 6
statements passed. With Whisper behind it (``bench/consent_speech.py``): espeak-ng 18 of 18
digit readings and 6 of 6 statements pass (59-100 %); real voices and flite never needed it.
The attacks stay refused with Whisper in the loop (its hearing is the deciding one for each):
the digits only 0 %, the digits read again for the statement 0 %, "I agree to take part in
this research, my challenge phrase is …" 11-15 % (its digits: at most 2 of 4), another
sentence 0-14 %, and the ten digits for four (even ascending ones, all four in order) refused
by the extra-digit rule.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

from ...policy import SpeechModelUnavailable, whisper_transcript
from .decode import RATE, Audio
from .results import CheckResult, result
from .script import DIGIT_WORDS, Prompt, Script, Step

_WORD = re.compile(r"[a-z']+")
_TOKEN = re.compile(r"[a-z']+|[0-9]")  # Whisper's words, each figure of a numeral on its own
POCKETSPHINX = "pocketsphinx"
WHISPER = "Whisper base"


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


DIGITS_MIN = 3
DIGITS_EXTRA_MAX = 4
STATEMENT_MIN = 0.5
BEFORE_S = 0.2
AFTER_S = {Prompt.DIGITS: 0.75, Prompt.STATEMENT: 1.0}

# Few distractors: each one is also a word a real voice's unclear syllable can be heard as
# (with ~90 common words, real readings of CMU ARCTIC prompts lost 10-20 points).
FILLERS = ("uh", "um", "ah", "oh", "the", "a", "and", "i")
COMMON = ("to", "of", "in", "it", "is", "you", "that", "my", "this")
# Words that negate or refuse the statement: heard in its window, they refuse the check, and
# pocketsphinx's grammar has them so that it can hear them. Not "can't": read quickly, "I can
# take my consent back" was heard as "I can't take ..." (flite slt through Whisper), and it
# does not take back the agreement.
NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "nor",
        "neither",
        "dont",
        "don't",
        "doesn't",
        "didn't",
        "won't",
        "wouldn't",
        "shouldn't",
        "disagree",
        "refuse",
        "withdraw",
        "without",
    }
)
# Between digits, only hesitations: with short words in the loop, a noisy "one" became "my"
# or "i" (flite's voice over a quiet room's noise, through Opus).
DIGIT_FILLERS = ("uh", "ah", "um")


@dataclass(frozen=True, slots=True)
class Heard:
    words: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.words)


_lock = threading.Lock()


@cache
def _decoder() -> Any:
    from pocketsphinx import Decoder

    # One pass, no lattice rescoring: a word-loop grammar gains nothing from it. Words cost
    # more and silence less than by default (wip 0.65, silprob 0.005): in the pauses between
    # read digits, a quiet room's noise was heard as "two" (flite digits over -55 dBFS noise:
    # 4 of 15 readings exact by default, 11 of 15 so).
    # Batch cepstral mean normalisation: each utterance normalised on its own, so a check does
    # not depend on what the decoder heard before (live CMN carries its estimate over).
    return Decoder(
        samprate=RATE, loglevel="FATAL", bestpath=False, wip=1e-4, silprob=0.5, cmn="batch"
    )


def _grammar(decoder: Any, name: str, vocabulary: set[str]) -> str:
    known = sorted(w for w in vocabulary if w.isalpha() and decoder.lookup_word(w) is not None)
    return (
        f"#JSGF V1.0;\ngrammar {name};\npublic <utterance> = <word>+;\n"
        f"<word> = {' | '.join(known)};\n"
    )


def _homophones(decoder: Any, candidates: set[str], expected: set[str]) -> set[str]:
    """Candidates that sound exactly like an expected word ("four" and "for")."""
    sounds = {decoder.lookup_word(w) for w in expected} - {None}
    return {w for w in candidates if w not in expected and decoder.lookup_word(w) in sounds}


def hear(audio: Audio, expected: str, distractors: set[str], name: str) -> Heard:
    """What pocketsphinx hears in ``audio`` among the expected words and the distractors."""
    if audio.size < RATE // 4:
        return Heard(())
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    wanted = set(words(expected))
    with _lock:
        decoder = _decoder()
        others = distractors - _homophones(decoder, distractors, wanted)
        decoder.add_jsgf_string(name, _grammar(decoder, name, wanted | others))
        decoder.activate_search(name)
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
    return Heard(tuple(words(str(hypothesis.hypstr))) if hypothesis is not None else ())


def in_order(heard: list[str], wanted: list[str]) -> int:
    """How many of ``wanted`` occur in ``heard`` in order (longest common subsequence)."""
    previous = [0] * (len(wanted) + 1)
    for word in heard:
        current = [0]
        for j, target in enumerate(wanted):
            current.append(previous[j] + 1 if word == target else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _window(audio: Audio, step: Step) -> Audio:
    start = max(0, int((step.start_s - BEFORE_S) * RATE))
    end = min(audio.size, int((step.end_s + AFTER_S.get(step.prompt, 0.5)) * RATE))
    return audio[start:end] if end > start else audio[:0]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One recogniser's hearing of a window, judged by the check's rules."""

    recogniser: str
    heard: Heard
    passed: bool
    score: float
    summary: str
    cpu_s: float  # the process's CPU time the recogniser took (benchmarks read it)


Judge = Callable[[Heard], tuple[bool, float, str]]


def whisper_heard(window: Audio) -> Heard:
    """Whisper base's free transcript of the window: its numerals spelled as digit words, one
    per figure (Whisper writes read digits as "3-8-6-1" or "3861")."""
    if window.size < RATE // 4:
        return Heard(())
    text = whisper_transcript(np.clip(window, -1.0, 1.0).astype(np.float32))
    return Heard(
        tuple(DIGIT_WORDS[int(t)] if t.isdigit() else t for t in _TOKEN.findall(text.lower()))
    )


def _judged(recogniser: str, listen: Callable[[], Heard], judge: Judge) -> Verdict:
    start = time.process_time()
    heard = listen()
    cpu_s = time.process_time() - start
    passed, score, summary = judge(heard)
    return Verdict(recogniser, heard, passed, score, summary, cpu_s)


def verdicts(
    window: Audio,
    expected: str,
    distractors: set[str],
    name: str,
    judge: Judge,
    first_judge: Judge | None = None,
) -> list[Verdict]:
    """pocketsphinx on its grammar first (judged by ``first_judge`` when given, a stricter
    reading of the same rules); where it refuses, Whisper base on the same window, judged by
    ``judge``. The last verdict decides."""
    first = _judged(
        POCKETSPHINX, lambda: hear(window, expected, distractors, name), first_judge or judge
    )
    if first.passed:
        return [first]
    try:
        return [first, _judged(WHISPER, lambda: whisper_heard(window), judge)]
    except SpeechModelUnavailable as error:  # refused on pocketsphinx's hearing alone
        return [replace(first, summary=f"{first.summary} (Whisper base unavailable: {error})")]


def _result(name: str, heard: list[Verdict], threshold: float) -> CheckResult:
    last = heard[-1]
    said = "; ".join(f"{v.recogniser} heard “{v.heard.text}”: {v.summary}" for v in heard)
    detail = f"{said}; decided by {last.recogniser}"
    return result(name, last.passed, last.score, threshold, detail)


def digits_verdicts(audio: Audio, step: Step) -> list[Verdict]:
    wanted = words(step.text)
    needed = min(DIGITS_MIN, len(wanted))

    def judge(heard: Heard) -> tuple[bool, float, str]:
        digits = [w for w in heard.words if w in DIGIT_WORDS]
        matched = in_order(digits, wanted)
        extra = len(digits) - matched
        summary = f"{matched} of {len(wanted)} digits in order, {extra} other digit(s)"
        ok = matched >= needed and extra <= DIGITS_EXTRA_MAX
        return ok, matched / max(1, len(wanted)), summary

    distractors = set(DIGIT_FILLERS) | set(DIGIT_WORDS)
    return verdicts(_window(audio, step), step.text, distractors, "digits", judge)


def statement_verdicts(audio: Audio, step: Step) -> list[Verdict]:
    wanted = words(step.text)
    # A negation the statement does not have turns it into a refusal whatever share of its
    # words was read: "I do not agree that this researcher may ..." holds every one of them.
    refusals = NEGATIONS - set(wanted)

    def judge(heard: Heard) -> tuple[bool, float, str]:
        share = in_order(list(heard.words), wanted) / max(1, len(wanted))
        said = f"{share:.0%} of the statement's words in order"
        negated = sorted(refusals & set(heard.words))
        if negated:
            return False, share, f"{said}, but negated (“{'”, “'.join(negated)}”)"
        return share >= STATEMENT_MIN, share, said

    def judge_grammar(heard: Heard) -> tuple[bool, float, str]:
        # Digit words among the statement's are not a clean reading: pocketsphinx's grammar
        # heard "I do not agree" as "I nine agree" and "I eight oh to agree". Refused here, the
        # window is heard again by Whisper, which writes what was said.
        passed, share, said = judge(heard)
        stray = sorted({w for w in heard.words if w in DIGIT_WORDS} - set(wanted))
        if passed and stray:
            return False, share, f"{said}, with digit words among them (“{'”, “'.join(stray)}”)"
        return passed, share, said

    distractors = set(COMMON) | set(FILLERS) | set(DIGIT_WORDS) | refusals
    window = _window(audio, step)
    return verdicts(window, step.text, distractors, "statement", judge, judge_grammar)


def check_digits(audio: Audio, script: Script) -> CheckResult:
    steps = script.of(Prompt.DIGITS)
    if not steps:
        return result("digits", False, 0.0, DIGITS_MIN / 4, "the script has no digits")
    wanted = words(steps[0].text)
    needed = min(DIGITS_MIN, len(wanted))
    return _result("digits", digits_verdicts(audio, steps[0]), needed / max(1, len(wanted)))


def check_statement(audio: Audio, script: Script) -> CheckResult:
    steps = script.of(Prompt.STATEMENT)
    if not steps:
        return result("statement", False, 0.0, STATEMENT_MIN, "the script has no statement")
    return _result("statement", statement_verdicts(audio, steps[0]), STATEMENT_MIN)
