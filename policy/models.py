"""What the checks return: a Decision, and its audio and image forms with their measurements."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

PolicyHash = NewType("PolicyHash", str)  # sha256 hex of the policy file's bytes
RuleId = NewType("RuleId", str)


class Action(StrEnum):
    """What the gate does with an input: deny is stricter than review, review than allow."""

    ALLOW = "allow"
    REVIEW = "review"
    DENY = "deny"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Action.ALLOW: 0, Action.REVIEW: 1, Action.DENY: 2}


def strictest(actions: list[Action]) -> Action:
    return max(actions, key=lambda a: a.severity, default=Action.ALLOW)


class Use(StrEnum):
    """Where the input is used: each category has an action per use in the policy file."""

    OFFLINE = "offline"
    LIVE = "live"


class Category(StrEnum):
    """Hazard categories, after the Llama Guard 3 / MLCommons taxonomy plus synthetic likeness."""

    IMPERSONATION = "impersonation"
    SEXUAL = "sexual"
    MINORS = "minors"
    FRAUD = "fraud"
    ELECTIONS = "elections"
    HATE = "hate"
    VIOLENCE = "violence"
    SELF_HARM = "self_harm"
    DEFAMATION = "defamation"
    # Signals from audio and images rather than words.
    UNINTELLIGIBLE_SPEECH = "unintelligible_speech"
    OTHER_LANGUAGE = "other_language"  # typed text the English-only text checks cannot read
    NUDITY = "nudity"
    FACES = "faces"
    MINOR_LIKENESS = "minor_likeness"


@dataclass(frozen=True)
class Decision:
    """The outcome of one check. ``reason`` is short and never repeats the input."""

    action: Action
    rule_ids: tuple[RuleId, ...]
    categories: tuple[Category, ...]
    policy_version: str
    policy_hash: PolicyHash
    reason: str
    # Which layer's hits decided ("rules", "semantic", "signal"; "+" between several; "" when
    # nothing fired), and the semantic layer's top score when it ran (None when it did not).
    layer: str = ""
    score: float | None = None

    @property
    def allowed(self) -> bool:
        return self.action is Action.ALLOW


@dataclass(frozen=True)
class AudioDecision:
    """A Decision over an audio file or stream, with what was measured to reach it."""

    decision: Decision
    transcript: str
    duration_s: float
    sample_rate: int
    container: str
    speech_s: float
    speech_proportion: float
    recogniser_confidence: float | None  # duration-weighted word posterior; None without words
    # Each stretch of speech transcribed (start s, end s, the words heard in it), in order: the
    # transcript with its timing, for a renderer that shapes the mouth from the words.
    spoken: tuple[tuple[float, float, str], ...] = ()

    @property
    def action(self) -> Action:
        return self.decision.action


@dataclass(frozen=True)
class ImageDecision:
    """A Decision over a reference photo, with the detections behind it."""

    decision: Decision
    width: int
    height: int
    faces: tuple[tuple[int, int, int, int], ...]  # (left, top, width, height) in pixels
    nudity: tuple[tuple[str, float], ...] = field(default=())  # (nudenet label, score)

    @property
    def action(self) -> Action:
        return self.decision.action
