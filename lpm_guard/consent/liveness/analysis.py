"""Every liveness check on one capture, in order, the cheapest first."""

from __future__ import annotations

from .lipsync import check_lip_sync
from .motion import check_blinks, check_head_turns, check_three_d
from .noise import check_rendered
from .presence import check_one_face, check_same_person, check_too_short
from .results import CheckResult
from .script import Script
from .spoken import check_digits, check_statement
from .track import Recording

CHECKS = (
    "too-short", "one-face", "same-person", "head-turns", "blinks", "three-d", "lip-sync",
    "digits", "statement", "rendered",
)  # fmt: skip


def analyse(recording: Recording, script: Script) -> list[CheckResult]:
    """The checks' results, named as in ``CHECKS``. Each runs whatever the others found: the
    reviewer sees them all; the capture is refused when any one fails (``rendered`` only
    flags). Speech recognition (~1 s) runs last but one."""
    track = recording.track
    return [
        # (1): the measures already taken while decoding.
        check_too_short(recording, script),
        check_one_face(recording, script),
        check_same_person(recording),
        check_head_turns(track, script),
        check_blinks(track, script),
        check_three_d(track, script),
        # (2): the sound against the mouth, then what was said.
        check_lip_sync(track, recording.audio, script),
        check_digits(recording.audio, script),
        check_statement(recording.audio, script),
        # (3): for the reviewer only.
        check_rendered(recording.noise),
    ]
