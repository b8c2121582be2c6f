"""The challenge script of one live capture: what the subject does, and when.

The server draws a script when the consent page opens a capture session: head turns in a random
order, a blink placed among them, a few random digits to read, then the statement. Times are
seconds from the start of the recording; the page shows each prompt when the script says, and
the server checks the video against the same times. A recording made before the script existed
cannot follow it.

Directions are the subject's own: ``turn-left`` means the person turns their head to *their*
left, so in the camera's (unmirrored) image the nose moves towards the image's right edge.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

# The digits are read as words; pocketsphinx hears them in a grammar of digit words only.
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

SETTLE_S = 2.0  # face the camera, still, before the first prompt
TURN_S = 2.5  # each head turn's window
BACK_S = 1.0  # back to the camera between turns
BLINK_S = 2.5
DIGITS = 4
DIGITS_S = 5.0
STATEMENT_S_PER_WORD = 0.5  # a slow reading pace, with room to spare
STATEMENT_MIN_S = 6.0
TAIL_S = 1.0


class Prompt(StrEnum):
    LOOK = "look"  # face the camera
    TURN_LEFT = "turn-left"
    TURN_RIGHT = "turn-right"
    LOOK_UP = "look-up"
    BLINK = "blink"  # blink twice
    DIGITS = "digits"  # read the digits aloud
    STATEMENT = "statement"  # read the statement aloud


TURNS = (Prompt.TURN_LEFT, Prompt.TURN_RIGHT, Prompt.LOOK_UP)


@dataclass(frozen=True, slots=True)
class Step:
    prompt: Prompt
    start_s: float
    end_s: float
    text: str = ""  # the digits ("four one nine seven") or the statement

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Script:
    steps: tuple[Step, ...]

    @property
    def duration_s(self) -> float:
        return self.steps[-1].end_s + TAIL_S if self.steps else 0.0

    def of(self, prompt: Prompt) -> list[Step]:
        return [step for step in self.steps if step.prompt == prompt]

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": [{**asdict(step), "prompt": str(step.prompt)} for step in self.steps],
            "duration_s": self.duration_s,
        }

    @classmethod
    def from_json(cls, text: str) -> Script:
        data = json.loads(text)
        return cls(
            tuple(
                Step(Prompt(s["prompt"]), float(s["start_s"]), float(s["end_s"]), s["text"])
                for s in data["steps"]
            )
        )


# What the subject reads aloud: short, and in words every recogniser knows. The written
# statement (who asked, for which uses, until when) is shown above the camera; this sentence is
# the spoken act of agreeing to it.
SPOKEN_STATEMENT = (
    "I agree that this researcher may animate my face for the uses I have read. "
    "I know that I can take my consent back at any time."
)


def spoken_statement(statement: str) -> str:
    return " ".join(statement.split())


def new_script(statement: str = SPOKEN_STATEMENT, rng: random.Random | None = None) -> Script:
    """A fresh script: the turns shuffled, the blink among them, new digits, the statement."""
    rng = rng or secrets.SystemRandom()
    motions: list[Prompt] = list(TURNS)
    rng.shuffle(motions)
    motions.insert(rng.randrange(len(motions) + 1), Prompt.BLINK)
    steps = [Step(Prompt.LOOK, 0.0, SETTLE_S)]
    t = SETTLE_S
    for prompt in motions:
        length = BLINK_S if prompt == Prompt.BLINK else TURN_S
        steps.append(Step(prompt, t, t + length))
        t += length
        if prompt != Prompt.BLINK:
            steps.append(Step(Prompt.LOOK, t, t + BACK_S))
            t += BACK_S
    # Distinct digits: a repeated one ("four four") runs together when read aloud and is heard
    # as one word. 10 × 9 × 8 × 7 = 5,040 sequences, on top of the shuffled turns.
    digits = " ".join(rng.sample(DIGIT_WORDS, DIGITS))
    steps.append(Step(Prompt.DIGITS, t, t + DIGITS_S, digits))
    t += DIGITS_S
    words = spoken_statement(statement)
    length = max(STATEMENT_MIN_S, STATEMENT_S_PER_WORD * len(words.split()))
    steps.append(Step(Prompt.STATEMENT, t, t + length, words))
    return Script(tuple(round_step(step) for step in steps))


def round_step(step: Step) -> Step:
    return Step(step.prompt, round(step.start_s, 3), round(step.end_s, 3), step.text)
