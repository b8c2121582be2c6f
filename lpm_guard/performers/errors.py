"""Errors of performers: none could be started, the portrait was refused, or a stream broke."""

from __future__ import annotations

from enum import StrEnum

from ..errors import InvalidRequest, LpmGuardError, Unavailable


class PerformerUnavailable(Unavailable):
    """No performer can be started now (every worker is down or full)."""

    slug, title = "generator-unavailable", "No generator can take this now"


class PortraitRefused(InvalidRequest):
    """The performer cannot animate this picture (no face, several faces, bad landmarks)."""

    slug, title = "portrait-refused", "The generator cannot animate this picture"


class Breach(StrEnum):
    """How a performer's stream broke; each stops the session (or fails the job) it served."""

    DIED = "generator_died"  # the connection or process went away
    STALLED = "generator_stalled"  # no frame for longer than the stream allows
    WRONG_SIZE = "generator_wrong_size"  # a frame of another size than the stream's
    OUT_OF_ORDER = "generator_out_of_order"  # a frame index other than the next
    AFTER_END = "generator_after_end"  # a frame after the stream had ended
    MALFORMED = "generator_malformed"  # a message the protocol does not have
    FAILED = "generator_failed"  # the performer reported an error of its own


class PerformerFailed(LpmGuardError):
    """A performer's stream broke: ``breach`` says how, the message says what was seen."""

    status, slug, title = 502, "generator-failed", "The generator failed"

    def __init__(self, breach: Breach, detail: str) -> None:
        super().__init__(detail, breach=breach.value)
        self.breach = breach
