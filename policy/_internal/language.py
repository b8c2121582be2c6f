"""Typed text in another language: the rules and the semantic layer read English only.

Two signals, both required: py3langid (langid.py's naive Bayes over byte n-grams, 97 languages;
its model ships in the wheel and its sha256 is pinned here and checked at load) names another
language with at least ``min_probability``, and under ``max_english_words`` of the text's words
(read as the semantic layer reads them: leetspeak and spacing undone) are English dictionary
words. The second keeps English in heavy leetspeak ("7h3 3l3c710n 0ff1c14l", which py3langid
calls no language) readable, and the first keeps names and slang from counting as foreign.
"""

from __future__ import annotations

import hashlib
import threading
from functools import cache
from pathlib import Path
from typing import Any

from .embed import SemanticModelError
from .normalise import _vocabulary, plain_reading

# py3langid 0.4.0's data/model.npz.xz (the wheel's file).
MODEL_SHA256 = "f4f4a2c3465ca1f081541037f9cac23021d68151c2f709c55ae5eedfca522963"
ENGLISH = "en"
_LOCK = threading.Lock()


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


def other_language(text: str, min_probability: float, max_english_words: float) -> str | None:
    """The language code when the text reads as another language by both signals, else None."""
    language, probability = identifier().classify(text)
    if language == ENGLISH or float(probability) < min_probability:
        return None
    if english_share(text) >= max_english_words:
        return None
    return str(language)
