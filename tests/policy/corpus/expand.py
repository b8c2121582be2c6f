"""Writes corpus.jsonl (tuning split) and heldout.jsonl from base.py, with evasion variants.

    .venv/bin/python tests/policy/corpus/expand.py

Each disallowed prompt appears as written and in two evasions; each benign look-alike as written
and in two (a benign prompt must still pass when it is spaced out or written in leetspeak). The
evasions rotate through the techniques below, seeded by the text, so the output is stable.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import base  # noqa: E402

LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
CYRILLIC = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"}
FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}


def _key_words(text: str, rng: random.Random, n: int = 2) -> set[int]:
    """Indices of the longest words: those carry the meaning an evasion hides."""
    words = text.split()
    ranked = sorted(range(len(words)), key=lambda i: (-len(words[i].strip(".,:;!?")), i))
    picked = ranked[: max(n + 1, 1)]
    rng.shuffle(picked)
    return set(picked[:n])


def _per_word(text: str, rng: random.Random, f: Callable[[str], str], n: int = 2) -> str:
    keys = _key_words(text, rng, n)
    return " ".join(f(w) if i in keys else w for i, w in enumerate(text.split()))


def leet(text: str, rng: random.Random) -> str:
    return "".join(LEET.get(c, c) if c in LEET and rng.random() < 0.7 else c for c in text)


def homoglyph(text: str, rng: random.Random) -> str:
    return "".join(CYRILLIC.get(c, c) if rng.random() < 0.8 else c for c in text)


def spaced(text: str, rng: random.Random) -> str:
    sep = rng.choice([" ", ".", "-", "*", " . "])
    return _per_word(text, rng, lambda w: sep.join(w), n=3)


def zero_width(text: str, rng: random.Random) -> str:
    zw = rng.choice(["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad"])
    return _per_word(text, rng, lambda w: zw.join(w), n=3)


def repeated(text: str, rng: random.Random) -> str:
    def stretch(w: str) -> str:
        return "".join(c * rng.choice([1, 3, 4]) if c.lower() in "aeiouls" else c for c in w)

    return _per_word(text, rng, stretch, n=3)


def mixed_case(text: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


def accents(text: str, rng: random.Random) -> str:
    marks = ["\u0301", "\u0300", "\u0308", "\u0327", "\u0336"]
    return "".join(c + rng.choice(marks) if c.isalpha() and rng.random() < 0.5 else c for c in text)


def fullwidth(text: str, rng: random.Random) -> str:
    return _per_word(text, rng, lambda w: "".join(FULLWIDTH.get(c, c) for c in w), n=3)


def leet_spaced(text: str, rng: random.Random) -> str:
    return spaced(leet(text, rng), rng)


def homoglyph_zero_width(text: str, rng: random.Random) -> str:
    return zero_width(homoglyph(text, rng), rng)


TECHNIQUES: list[tuple[str, Callable[[str, random.Random], str]]] = [
    ("leet", leet),
    ("homoglyph", homoglyph),
    ("spaced", spaced),
    ("zero_width", zero_width),
    ("repeated", repeated),
    ("mixed_case", mixed_case),
    ("accents", accents),
    ("fullwidth", fullwidth),
    ("leet_spaced", leet_spaced),
    ("homoglyph_zero_width", homoglyph_zero_width),
]


def _rng(text: str, salt: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{salt}:{text}".encode()).digest())


def expand(
    deny: dict[str, list[str]], allow: dict[str, list[str]], prefix: str, benign_variants: int
) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    turn = 0
    for expected, table, variants in (("deny", deny, 2), ("allow", allow, benign_variants)):
        for category, texts in table.items():
            for n, text in enumerate(texts):
                item = f"{prefix}-{category}-{expected}-{n:02d}"
                rows.append(
                    {
                        "id": item,
                        "text": text,
                        "category": category,
                        "expected": expected,
                        "evasion": "none",
                    }
                )
                for _ in range(variants):
                    name, technique = TECHNIQUES[turn % len(TECHNIQUES)]
                    turn += 1
                    rows.append(
                        {
                            "id": f"{item}-{name}",
                            "text": technique(text, _rng(text, name)),
                            "category": category,
                            "expected": expected,
                            "evasion": name,
                        }
                    )
    return rows


def build() -> dict[str, list[dict[str, str]]]:
    return {
        "corpus.jsonl": expand(base.DENY, base.ALLOW, "t", benign_variants=2),
        "heldout.jsonl": expand(base.HELDOUT_DENY, base.HELDOUT_ALLOW, "h", benign_variants=2),
    }


def render(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


if __name__ == "__main__":
    for name, rows in build().items():
        (HERE / name).write_text(render(rows), encoding="utf-8")
        print(f"{name}: {len(rows)} prompts")
