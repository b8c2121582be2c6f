"""Free-text instructions ("smile warmly", "nod slowly", "look to the left") as mood changes.

Parsing is forgiving: matching is case-insensitive on word boundaries with a few synonyms per cue,
unknown words are ignored, and a cue preceded by a negation ("don't look sad") is skipped.
Directions are the CHARACTER's: "look to the left" turns the face towards the viewer's right
(positive ``yaw``/``gaze_x``); "look to my left" (the viewer's or screen's left) is the other way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum


class Cue(StrEnum):
    SMILE = "smile"
    STOP_SMILING = "stop smiling"
    HAPPY = "happy"
    SAD = "sad"
    SERIOUS = "serious"
    THOUGHTFUL = "thoughtful"
    SURPRISED = "surprised"
    RAISE_BROWS = "raise eyebrows"
    CALM = "calm"
    EXCITED = "excited"
    NOD = "nod"
    NOD_SLOWLY = "nod slowly"
    STOP_NODDING = "stop nodding"
    LOOK_LEFT = "look left"
    LOOK_RIGHT = "look right"
    LOOK_UP = "look up"
    LOOK_DOWN = "look down"
    LOOK_AT_VIEWER = "look at viewer"
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class Mood:
    """Targets the behaviour moves towards; the defaults are the neutral mood."""

    smile: float = 0.0  # -1..1, baseline expression
    brow: float = 0.0  # -1..1
    motion: float = 1.0  # gain on head-motion amplitude
    blink: float = 1.0  # gain on blink rate
    tempo: float = 1.0  # gain on nod speed (> 1: shorter nods)
    nod_rate: float = 0.0  # continuous nods per minute (0: only backchannel nods)
    gaze_x: float = 0.0  # gaze bias, -1..1, viewer's right positive
    gaze_y: float = 0.0  # gaze bias, -1..1, down positive
    yaw: float = 0.0  # head bias, rad (see controls.py for signs)
    pitch: float = 0.0
    roll: float = 0.0


NEUTRAL_MOOD = Mood()

_LIMITS: dict[str, tuple[float, float]] = {
    "smile": (-1.0, 1.0),
    "brow": (-1.0, 1.0),
    "motion": (0.2, 2.5),
    "blink": (0.5, 1.6),
    "tempo": (0.5, 1.6),
    "nod_rate": (0.0, 60.0),
    "gaze_x": (-0.8, 0.8),
    "gaze_y": (-0.8, 0.8),
    "yaw": (-0.35, 0.35),
    "pitch": (-0.2, 0.2),
    "roll": (-0.15, 0.15),
}

_EFFECTS: dict[Cue, dict[str, float]] = {
    Cue.SMILE: {"smile": 0.6},
    Cue.STOP_SMILING: {"smile": 0.0},
    Cue.HAPPY: {"smile": 0.45, "brow": 0.15, "motion": 1.2},
    Cue.SAD: {"smile": -0.3, "brow": -0.15, "motion": 0.7, "gaze_y": 0.2, "pitch": 0.05},
    Cue.SERIOUS: {"smile": -0.15, "brow": -0.4, "motion": 0.8},
    Cue.THOUGHTFUL: {
        "smile": 0.0,
        "brow": 0.2,
        "motion": 0.7,
        "blink": 0.8,
        "gaze_x": -0.3,
        "gaze_y": -0.3,
        "roll": 0.05,
    },
    Cue.SURPRISED: {"brow": 0.6, "blink": 0.7},
    Cue.RAISE_BROWS: {"brow": 0.5},
    Cue.CALM: {"motion": 0.5, "blink": 0.85, "tempo": 0.8},
    Cue.EXCITED: {"motion": 1.8, "blink": 1.2, "tempo": 1.25, "smile": 0.3, "brow": 0.25},
    Cue.NOD: {"nod_rate": 35.0},
    Cue.NOD_SLOWLY: {"nod_rate": 22.0, "tempo": 0.7},
    Cue.STOP_NODDING: {"nod_rate": 0.0},
    Cue.LOOK_LEFT: {"gaze_x": 0.5, "yaw": 0.15},  # the character's left: the viewer's right
    Cue.LOOK_RIGHT: {"gaze_x": -0.5, "yaw": -0.15},
    Cue.LOOK_UP: {"gaze_y": -0.45, "pitch": -0.08},  # chin up is negative pitch
    Cue.LOOK_DOWN: {"gaze_y": 0.45, "pitch": 0.08},
    Cue.LOOK_AT_VIEWER: {"gaze_x": 0.0, "gaze_y": 0.0, "yaw": 0.0, "pitch": 0.0},
}

_STOP = r"\b(?:stop|quit|no(?:\s+more)?|don't|dont|do\s+not)\s+(?:\w+\s+)?"
_FILLER = (
    r"(?:to|towards?|over|at|the|your|my|his|her|its|their|a|bit|little|slightly|far|way|"
    r"screen|camera|viewer's|viewers|audience's|head|eyes|gaze|face|side|of)"
)
_DIRECTION = r"(?:left|right(?!\s+(?:at|into|now|here)\b)|up(?:wards?)?|down(?:wards?)?)"

_RULES: tuple[tuple[Cue | None, re.Pattern[str]], ...] = tuple(
    (cue, re.compile(pattern))
    for cue, pattern in (
        (Cue.STOP_NODDING, _STOP + r"nod(?:s|ding)?\b"),
        (Cue.STOP_SMILING, _STOP + r"(?:smil(?:e|es|ing)|grin(?:s|ning)?)\b"),
        (
            Cue.NOD_SLOWLY,
            r"\bnod(?:s|ding)?\s+(?:\w+\s+)?slow(?:ly)?\b|\bslow(?:ly)?\s+nod(?:s|ding)?\b",
        ),
        (Cue.NOD, r"\bnod(?:s|ded|ding)?\b"),
        (Cue.SMILE, r"\b(?:smil(?:e|es|ed|ing|ey)|grin(?:s|ning)?|beam(?:ing)?)\b"),
        (Cue.HAPPY, r"\b(?:happy|happier|cheerful|joyful|joyous|glad|delighted|friendly|warm)\b"),
        (
            Cue.SAD,
            r"\b(?:sad|sadder|unhappy|upset|downcast|gloomy|melancholy|sorrowful|depressed)\b",
        ),
        (Cue.SERIOUS, r"\b(?:serious|stern|frown(?:s|ed|ing)?|angry|annoyed|grumpy|severe)\b"),
        (Cue.THOUGHTFUL, r"\b(?:thoughtful|pensive|contemplative|ponder(?:ing)?|reflective)\b"),
        (Cue.SURPRISED, r"\b(?:surprised?|astonished|amazed)\b"),
        (
            Cue.RAISE_BROWS,
            r"\b(?:rais(?:e|es|ed|ing)|lift(?:s|ed|ing)?|arch(?:es|ed|ing)?)\s+"
            r"(?:(?:your|the|his|her|its|both)\s+)?(?:eye\s*)?brows?\b"
            r"|\b(?:eye\s*)?brows?\s+(?:up|raised)\b",
        ),
        (
            Cue.CALM,
            r"\b(?:calm(?:ly|er)?|relax(?:ed|ing)?|serene|peaceful|tranquil|chill|composed)\b",
        ),
        (
            Cue.EXCITED,
            r"\b(?:excit(?:ed|ing)|energetic|enthusiastic|lively|animated|thrilled|eager)\b",
        ),
        (
            Cue.LOOK_AT_VIEWER,
            r"\b(?:look|gaze|stare)(?:s|ed|ing)?\s+(?:right\s+|straight\s+)?"
            r"(?:at|into|to(?:wards?)?)\s+"
            r"(?:me|us|the\s+(?:camera|viewer|lens|audience|screen))\b"
            r"|\beye\s+contact\b|\blook\s+straight(?:\s+ahead)?\b"
            r"|\bface\s+(?:me|forward|the\s+camera)\b",
        ),
        (
            None,
            rf"\b(?:look|turn|glance|gaze|face|peer|eyes|head)(?:s|ed|ing)?"
            rf"(?:\s+{_FILLER})*\s+{_DIRECTION}\b"
            rf"|\b(?:to|towards?)\s+(?:(?:the|your|my|his|her|its)\s+)?"
            rf"(?:(?:viewer's|viewers|camera's|screen|audience's)\s+)?(?:left|right)\b",
        ),
        (Cue.NEUTRAL, r"\b(?:neutral|reset|normal|default|expressionless|straight\s+face)\b"),
    )
)

_CLAUSE = re.compile(r"[.,;:!?\n]|\b(?:and|then|but|while)\b")
_NEGATED = re.compile(r"\b(?:don't|dont|do\s+not|never|not|no|stop|quit)\s+(?:\w+\s+)?$")
_SOFT = re.compile(
    r"\b(?:slight(?:ly)?|a\s+(?:little|bit|touch)|subtl[ey]|somewhat|mildly|"
    r"lightly|faintly)\b"
)
_STRONG = re.compile(
    r"\b(?:very|really|big|broad(?:ly)?|wide(?:ly)?|a\s+lot|lots|extremely|"
    r"super|more|hugely)\b"
)
_VIEWER_SIDE = re.compile(r"\b(?:my|viewer's|viewers|camera's|camera|screen|audience's)\b")
_FLIP = {Cue.LOOK_LEFT: Cue.LOOK_RIGHT, Cue.LOOK_RIGHT: Cue.LOOK_LEFT}


def parse(text: str) -> list[tuple[Cue, float]]:
    """The cues in ``text``, in order, each with an intensity (0.5 slight, 1, 1.5 strong)."""
    text = re.sub(r"\s+", " ", text.lower().replace("\u2019", "'"))
    found: list[tuple[int, int, Cue | None]] = []
    for cue, pattern in _RULES:
        found += [(m.start(), m.end(), cue) for m in pattern.finditer(text)]
    found.sort(key=lambda f: (f[0], f[0] - f[1]))
    cues: list[tuple[Cue, float]] = []
    end = 0
    for start, stop, rule in found:
        if start < end:
            continue  # overlaps an earlier (or longer) match
        end = stop
        cue = rule if rule is not None else _direction(text[start:stop])
        clause = _clause(text, start, stop)
        if not cue.name.startswith("STOP") and _NEGATED.search(text[clause[0] : start]):
            continue
        where = text[clause[0] : clause[1]]
        intensity = 0.5 if _SOFT.search(where) else 1.5 if _STRONG.search(where) else 1.0
        cues.append((cue, intensity))
    return cues


def apply(mood: Mood, cue: Cue, intensity: float = 1.0) -> Mood:
    """``mood`` with ``cue`` applied; ``intensity`` scales the change away from neutral."""
    if cue is Cue.NEUTRAL:
        return NEUTRAL_MOOD
    changes: dict[str, float] = {}
    for name, value in _EFFECTS[cue].items():
        rest: float = getattr(NEUTRAL_MOOD, name)
        low, high = _LIMITS[name]
        changes[name] = min(high, max(low, rest + (value - rest) * intensity))
    return replace(mood, **changes)


def _direction(phrase: str) -> Cue:
    word = phrase.rsplit(" ", 1)[-1]
    if word.startswith("up"):
        return Cue.LOOK_UP
    if word.startswith("down"):
        return Cue.LOOK_DOWN
    cue = Cue.LOOK_LEFT if word == "left" else Cue.LOOK_RIGHT
    return _FLIP[cue] if _VIEWER_SIDE.search(phrase) else cue


def _clause(text: str, start: int, stop: int) -> tuple[int, int]:
    begin = max((m.end() for m in _CLAUSE.finditer(text, 0, start)), default=0)
    after = _CLAUSE.search(text, stop)
    return begin, after.start() if after else len(text)
