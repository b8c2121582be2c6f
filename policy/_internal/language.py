"""Typed text in another language: the rules and the semantic layer read English only.

Two ways to be held. The first, two signals, both required: py3langid (langid.py's naive
Bayes over byte n-grams, 97 languages; its model ships in the wheel and its sha256 is pinned
here and checked at load) names another language with at least ``min_probability``, and under
``max_english_words`` of the text's words (read as the semantic layer reads them: leetspeak and
spacing undone) are English dictionary words. The second signal keeps English in heavy
leetspeak ("7h3 3l3c710n 0ff1c14l", which py3langid calls no language) readable, and the
first keeps names and slang from counting as foreign.

The second way, where py3langid is unsure (a language written in Latin letters that it does not
know or confuses, such as Hindi or Urdu typed in the Latin alphabet): among the text's words
written in lower case (a capitalised word may be a name), fewer than ``max_english_words``
are English dictionary words or chat shorthand, over at least ``min_words`` such words.
"""

from __future__ import annotations

import hashlib
import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

from .embed import SemanticModelError
from .normalise import _vocabulary, casefold, fold, plain_reading

# py3langid 0.4.0's data/model.npz.xz (the wheel's file).
MODEL_SHA256 = "f4f4a2c3465ca1f081541037f9cac23021d68151c2f709c55ae5eedfca522963"
ENGLISH = "en"
UNKNOWN = "unknown"  # other_language's answer for the second way (no language named)
_LOCK = threading.Lock()
# A capitalised word not after a letter or an apostrophe: a name, or a sentence's first word.
_CAPITALISED = re.compile(r"(?<![\w'’])[A-Z][a-z]+\b")
# Chat shorthand is English too ("u r", "pls", "kys"): not in the pronouncing dictionary.
SHORTHAND = frozenset(
    [
        "u",
        "r",
        "ur",
        "ya",
        "yo",
        "pls",
        "plz",
        "thx",
        "lol",
        "lmao",
        "fr",
        "rn",
        "ngl",
        "tbh",
        "idk",
        "imo",
        "dm",
        "dms",
        "kys",
        "irl",
        "omg",
        "wtf",
        "btw",
        "bc",
        "cuz",
        "gonna",
        "wanna",
        "gotta",
        "tho",
        "tonite",
        "k",
        "ok",
        "okay",
    ]
)


@cache
def _identifier() -> Any:
    try:
        from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise SemanticModelError(f"py3langid is not installed: {exc}") from None
    path = Path(MODEL_DIR) / MODEL_FILE
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise SemanticModelError(f"{path}: {exc.strerror}") from None
    if digest != MODEL_SHA256:
        raise SemanticModelError(f"{path}: sha256 {digest} is not the pinned {MODEL_SHA256}")
    return LanguageIdentifier.from_model_file(path, norm_probs=True)


def identifier() -> Any:
    """The process's language identifier, loaded on first use (about 0.6 s)."""
    with _LOCK:
        return _identifier()


def english_share(text: str) -> float:
    """The share of the text's words (as the semantic layer reads them) that are English
    dictionary words; 1.0 for a text without words."""
    words = [w for w in plain_reading(text).split() if w.isalpha()]
    if not words:
        return 1.0
    vocabulary = _vocabulary()
    return sum(w in vocabulary for w in words) / len(words)


def lower_case_english(text: str) -> tuple[float, int]:
    """The share of the text's words written in lower case (as the semantic layer reads them)
    that are English dictionary words or chat shorthand, and how many such words it has."""
    capitalised = {casefold(fold(w)) for w in _CAPITALISED.findall(text)}
    words = [w for w in plain_reading(text).split() if w.isalpha() and w not in capitalised]
    if not words:
        return 1.0, 0
    vocabulary = _vocabulary()
    return sum(w in vocabulary or w in SHORTHAND for w in words) / len(words), len(words)


def unidentified_language(text: str, max_english_words: float, min_words: int) -> bool:
    """At least ``min_words`` words in lower case, under ``max_english_words`` of them
    English (the second signal in this module's description)."""
    share, count = lower_case_english(text)
    return count >= min_words and share < max_english_words


def other_language(
    text: str,
    min_probability: float,
    max_english_words: float,
    unknown: tuple[float, int] | None = None,
) -> str | None:
    """The language code when the text reads as another language by both signals; ``UNKNOWN``
    when py3langid is unsure (English or not) and, with ``unknown`` given as
    (max_english_words, min_words), few of its lower-case words are English; else None."""
    language, probability = identifier().classify(text)
    sure = float(probability) >= min_probability
    if language != ENGLISH and sure:
        return None if english_share(text) >= max_english_words else str(language)
    if unknown is None or sure:  # sure of English: nothing more to read
        return None
    return UNKNOWN if unidentified_language(text, *unknown) else None
