"""Performers: the seam between the gate and any generator.

``protocol`` says what the gate needs from a generator; ``local`` adapts the CPU generator;
``server`` serves any backend as ``lpm-guard generator-worker``; ``remote`` and ``pool`` are the
gate's side of such workers; ``offline`` renders a job's MP4 through any performer. The gate
imports the protocol, never a generator's classes.
"""

from .errors import Breach, PerformerFailed, PerformerUnavailable, PortraitRefused
from .protocol import (
    SAMPLE_RATE,
    AudioMark,
    Backend,
    Direction,
    MarkKind,
    PerformedFrame,
    Performer,
    Portrait,
    Voice,
    portrait_of,
)

__all__ = [
    "SAMPLE_RATE",
    "AudioMark",
    "Backend",
    "Breach",
    "Direction",
    "MarkKind",
    "PerformedFrame",
    "Performer",
    "PerformerFailed",
    "PerformerUnavailable",
    "Portrait",
    "PortraitRefused",
    "Voice",
    "portrait_of",
]
