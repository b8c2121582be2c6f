"""Text normalisation that undoes the usual evasions before the rules see a prompt.

Each step is a function, applied in this order by ``normalise``:

1. ``nfkc``: Unicode compatibility folding (fullwidth, ligatures, math letters, circled letters).
2. ``strip_invisible``: zero-width and other format characters (category Cf), soft hyphens.
3. ``strip_marks``: combining marks (accents, strike-throughs stacked on letters).
4. ``fold_confusables``: letters that look like Latin ones (Cyrillic а, Greek ο...) become them,
   from confusable-homoglyphs' copy of Unicode's confusables data.
5. ``casefold``.
6. ``tokens``: words split on anything but letters, digits and leetspeak symbols; runs of three
   or more single characters ("k i l l", "k.i.l.l") are joined back into a word.
7. ``unleet``: in a word that holds a letter, digits and symbols read as letters ("k1ll", "$end").
8. ``segment`` (the heavy reading only): words spelt out together split with a dictionary.
9. ``squeeze``: repeated letters collapse to one ("kiiill" -> "kil"); the rules' patterns are
   squeezed the same way when they are compiled, so "kill" still meets "kil".

Steps 6 to 9 are hand-written: no maintained library folds leetspeak or spaced-out letters.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from functools import cache
from importlib import resources
from pathlib import Path

# Step 7's table: what each symbol or digit stands for inside a word.
LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "+": "t",
        "€": "e",
        "£": "l",
    }
)
_LEET_SYMBOLS = "@$!|+€£"
_TOKEN = re.compile(
    rf"[^\W_]+(?:[{re.escape(_LEET_SYMBOLS)}]+[^\W_]+)*|[{re.escape(_LEET_SYMBOLS)}][^\W_]+"
)
_APOSTROPHE = re.compile(r"(?<=\w)['’ʼ](?=\w)")
_REPEAT = re.compile(r"([^\W\d_])\1+")
_CHUNK = re.compile(r"(\s*)(\S+)")
_ARTICLES = ("a", "i", "4", "1")  # "a" and "I", also as leetspeak
_SOFT = {"\u00ad", "\u034f", "\u115f", "\u1160", "\u3164", "\uffa0"}  # fillers outside Cf


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def strip_invisible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Cf" and c not in _SOFT)


def strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Me"))
    return unicodedata.normalize("NFC", kept)


@cache
def _confusables() -> dict[int, str]:
    """Non-ASCII characters that Unicode lists as confusable with an ASCII letter or digit.

    The data lists one hop (Cyrillic "к" -> Latin kra "ĸ"), so each character follows up to
    three hops, and a lower-case letter without a match takes its capital's ("т" -> "Т" -> "T").
    """
    raw = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    graph: dict[str, list[str]] = {
        char: [h["c"] for h in homoglyphs if len(h["c"]) == 1]
        for char, homoglyphs in json.loads(raw).items()
        if len(char) == 1
    }

    def resolve(char: str) -> str | None:
        seen, frontier = {char}, [char]
        for _ in range(3):
            step = [h for c in frontier for h in graph.get(c, []) if h not in seen]
            found = [h for h in step if h.isascii() and h.isalpha()]
            found = found or [h for h in step if h.isascii() and h.isdigit()]
            if found:
                return found[0]
            seen.update(step)
            frontier = step
        return None

    table: dict[int, str] = {}
    for char in graph:
        if char.isascii():
            continue
        target = resolve(char)
        if target is None and char.islower() and len(char.upper()) == 1:
            upper = resolve(char.upper())
            target = upper.lower() if upper else None
        if target is not None:
            table[ord(char)] = target
    return table


def fold_confusables(text: str) -> str:
    return text.translate(_confusables())


def casefold(text: str) -> str:
    return text.casefold()


def tokens(text: str, split_articles: bool = False) -> list[str]:
    """Words, with letters spelt out one by one joined back ("k i l l", "k.i.l.l" -> "kill").

    A gap wider than the one between a run's letters ends a word ("p r e t e n d  t o  b e"
    -> "pretend", "to", "be"). A spelt-out word next to "a" or "I" joins them too
    ("is a p e d o" -> "apedo"); with ``split_articles`` a joined run of five or more that
    starts or ends with either (or with its leetspeak "4", "1") is split there.
    """
    text = _APOSTROPHE.sub("", text)
    words: list[str] = []
    run: list[str] = []  # single characters from consecutive whitespace-separated chunks
    narrowest = 0  # the narrowest gap between the run's characters so far
    spelling = False  # the run follows a spelt-out word ended by a wider gap

    def flush(join_pairs: bool = False) -> None:
        if len(run) < 3 and not (join_pairs and len(run) == 2):
            words.extend(run)
        elif split_articles and len(run) >= 5 and (run[0] in _ARTICLES or run[-1] in _ARTICLES):
            head = [run.pop(0)] if run[0] in _ARTICLES else []
            tail = [run.pop()] if run[-1] in _ARTICLES and len(run) >= 4 else []
            words.extend([*head, "".join(run), *tail])
        else:
            words.append("".join(run))
        run.clear()

    for match in _CHUNK.finditer(text):
        gap, chunk = len(match.group(1)), match.group(2)
        parts = _TOKEN.findall(chunk)
        if not parts:
            continue  # a lone separator (" . ") keeps a spelt-out run going
        if len(parts) >= 3 and all(len(p) == 1 for p in parts):
            parts = ["".join(parts)]  # "k-i-l-l" inside one chunk
        if len(parts) == 1 and len(parts[0]) == 1:
            if len(run) >= 2 and gap > narrowest:
                # A gap wider than the run's own ends a word: "p r e t e n d  t o  b e".
                spelling = spelling or len(run) >= 3
                flush(join_pairs=spelling)
            elif run:
                narrowest = gap if len(run) == 1 else min(narrowest, gap)
            run.append(parts[0])
            continue
        flush(join_pairs=spelling)
        spelling = False
        words.extend(parts)
    flush(join_pairs=spelling)
    return words


def unleet(word: str, numbers: bool = False) -> str:
    """Digits and symbols as letters, only in a word that already holds a letter (or, with
    ``numbers``, also in a number of up to three digits: "70" -> "to")."""
    if not any(c.isalpha() for c in word) and not (numbers and len(word) <= 3):
        return word
    return word.translate(LEET)


def squeeze(text: str) -> str:
    return _REPEAT.sub(r"\1", text)


def fold(text: str) -> str:
    """Steps 1 to 4: the text with its characters made plain, case kept."""
    return fold_confusables(strip_marks(strip_invisible(nfkc(text))))


_SHORT_WORDS = frozenset(
    [
        "a",
        "i",
        "an",
        "as",
        "at",
        "be",
        "by",
        "do",
        "go",
        "he",
        "if",
        "in",
        "is",
        "it",
        "me",
        "my",
        "no",
        "of",
        "on",
        "or",
        "so",
        "to",
        "up",
        "us",
        "we",
        "ex",
        "ok",
    ]
)


@cache
def _vocabulary() -> frozenset[str]:
    """English words: pocketsphinx's pronouncing dictionary (it ships in the wheel), words of
    three letters or more, plus the common shorter ones (its short entries are mostly letters
    and abbreviations)."""
    spec = importlib.util.find_spec("pocketsphinx")
    if spec is None or not spec.submodule_search_locations:
        return _SHORT_WORDS
    path = Path(spec.submodule_search_locations[0]) / "model" / "en-us" / "cmudict-en-us.dict"
    words = set(_SHORT_WORDS)
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            word = line.split(" ", 1)[0].split("(", 1)[0]
            if len(word) >= 3 and word.isalpha():
                words.add(word)
    return frozenset(words)


def segment(word: str) -> str:
    """A run of words spelt out together ("killthem") split into dictionary words ("kill
    them"): the fewest words, then the longest. Left as it is when no split covers it."""
    vocabulary = _vocabulary()
    if len(word) < 6 or word in vocabulary or not word.isalpha():
        return word
    n = len(word)
    best: list[tuple[int, int, list[str]] | None] = [None] * (n + 1)
    best[0] = (0, 0, [])
    for end in range(1, n + 1):
        for start in range(max(0, end - 20), end):
            prior = best[start]
            piece = word[start:end]
            if prior is None or piece not in vocabulary:
                continue
            candidate = (prior[0] + 1, prior[1] - len(piece) ** 2, [*prior[2], piece])
            current = best[end]
            if current is None or candidate[:2] < current[:2]:
                best[end] = candidate
    found = best[n]
    return " ".join(found[2]) if found is not None and found[0] > 1 else word


def normalise(text: str, split_articles: bool = False) -> str:
    """All steps: lower-case words of plain letters and digits, one space apart.

    ``split_articles`` gives the reading for heavy leetspeak and spaced-out letters: "a" or
    "I" at either end of a run of spelt-out letters is split off, short numbers are read as
    letters too, and words run together are split with a dictionary.
    """
    words = [
        unleet(w, numbers=split_articles) for w in tokens(casefold(fold(text)), split_articles)
    ]
    if split_articles:
        words = [segment(w) for w in words]
    return squeeze(" ".join(words))


_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:[A-Z]\.?\s+)?[A-Z][a-z]+)+")


def mark_names(text: str) -> str:
    """Step 1-4 text with ``zname`` before each run of capitalised words ("Joe Biden").

    A rule can then name "someone" without a list of every public figure: the matcher
    checks this view too. A sentence's first word is no name by itself being capitalised,
    so runs that start a sentence drop that word first.
    """
    out: list[str] = []
    last = 0
    for m in _NAME.finditer(text):
        start = m.start()
        words = m.group().split()
        before = text[:start].rstrip()
        if not before or before[-1] in ".!?:;\"'":
            words = words[1:]
            if len(words) < 2:
                continue
            start = m.start() + m.group().index(words[0])
        out.append(text[last:start])
        out.append(" zname ")
        last = start
    out.append(text[last:])
    return "".join(out)


_LONG_REPEAT = re.compile(r"([^\W\d_])\1{2,}")


def plain_reading(text: str) -> str:
    """Steps 1 to 8 for a reader of sentences (the semantic layer): evasions undone, but
    letters doubled in English kept ("kill", "good"); only runs of three or more collapse.

    Spelt-out letters joined by ``tokens`` are split into words ("pretendtobe" -> "pretend
    to be"); words written whole are left as they are (a name is no dictionary word).
    """
    folded = casefold(fold(text))
    written = set(_TOKEN.findall(_APOSTROPHE.sub("", folded)))
    words = []
    for word in tokens(folded, split_articles=True):
        word = unleet(word)
        if word not in written:
            word = segment(word)
        words.append(word)
    return _LONG_REPEAT.sub(r"\1", " ".join(words))
