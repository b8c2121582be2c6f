"""The spoken part of consent: a random challenge phrase and pocketsphinx recognising it.

pocketsphinx's US English acoustic model and dictionary ship inside its wheel. Its general
language model hears isolated random words poorly (on flite's voice "white window two" came
back as "like windows to you"), so recognition runs on a grammar instead: a free loop over the
words the subject is asked to say — the invitation's statement and every challenge word. Every
challenge word is in the loop, so a wrong phrase is heard as the wrong words, not bent into the
right ones. Homophones of statement words ("two"/"to", "four"/"for", "eight"/"ate", "blue",
"white") are kept out of the challenge lists.
"""

from __future__ import annotations

import re
import secrets
import threading
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
INTRO = "my challenge phrase is"

# Three word lists (colour, thing, number) so a phrase reads naturally: "purple river seven".
# 10 × 24 × 6 = 1,440 phrases; the phrase proves the recording was made for this invitation
# (it is shown only through the invitation's single-use link), not that it is secret.
COLOURS = (
    "red", "green", "yellow", "purple", "orange", "silver", "golden", "black", "brown", "pink",
)  # fmt: skip
THINGS = (
    "river", "mountain", "garden", "window", "table", "forest", "pencil", "rabbit",
    "ocean", "candle", "bridge", "apple", "tiger", "island", "castle", "doctor",
    "kitchen", "letter", "basket", "village", "dragon", "market", "number", "mirror",
)  # fmt: skip
NUMBERS = ("three", "five", "six", "seven", "nine", "ten")
CHALLENGE_WORDS = frozenset(COLOURS + THINGS + NUMBERS)


def new_challenge_phrase() -> str:
    return " ".join(secrets.choice(words) for words in (COLOURS, THINGS, NUMBERS))


_WORD = re.compile(r"[a-z']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def phrase_spoken(transcript: str, phrase: str, *, slack: int = 1) -> bool:
    """The phrase's words occur in order in the transcript, at most ``slack`` other words
    between consecutive ones (the recogniser sometimes inserts a short word)."""
    heard, wanted = words(transcript), words(phrase)
    if not wanted:
        return False
    for start, word in enumerate(heard):
        if word != wanted[0]:
            continue
        position, found = start, 1
        while found < len(wanted):
            window = heard[position + 1 : position + 2 + slack]
            if wanted[found] not in window:
                break
            position += 1 + window.index(wanted[found])
            found += 1
        if found == len(wanted):
            return True
    return False


_lock = threading.Lock()
_SEARCH = "consent"


@cache
def _decoder() -> Any:
    from pocketsphinx import Decoder

    # bestpath (a lattice rescoring pass) costs 20× the decoding itself on a word-loop grammar
    # and changes nothing here.
    return Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", bestpath=False)


def _grammar(decoder: Any, context: str) -> str:
    vocabulary = sorted(
        word
        for word in set(words(f"{context} {INTRO}")) | CHALLENGE_WORDS
        if word.isalpha() and decoder.lookup_word(word) is not None
    )
    alternatives = " | ".join(vocabulary)
    return (
        f"#JSGF V1.0;\ngrammar consent;\npublic <utterance> = <word>+;\n<word> = {alternatives};\n"
    )


def transcribe(samples: npt.NDArray[np.float32], context: str = "") -> str:
    """What pocketsphinx hears in mono float audio at 16 kHz (-1..1), listening for the words
    of ``context`` (the statement) and the challenge words."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    # One decoder, loaded once (~0.5 s); decoding is not re-entrant, hence the lock.
    with _lock:
        decoder = _decoder()
        decoder.add_jsgf_string(_SEARCH, _grammar(decoder, context))
        decoder.activate_search(_SEARCH)
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
    return str(hypothesis.hypstr) if hypothesis is not None else ""
