"""Liveness: what a live consent capture must show, checked on the video the subject recorded.

``script`` draws the challenge (head turns, a blink, digits, the statement) and times it;
the checks read the recording against it. Nothing here touches the database: the consent
service adds the checks that need stored data (face match, protected people, copies, our
watermark) and decides.
"""

from . import phash
from .analysis import CHECKS, analyse
from .results import CheckResult, Outcome
from .script import Prompt, Script, Step, new_script
from .track import Recording, Track, read_capture

__all__ = [
    "CHECKS",
    "CheckResult",
    "Outcome",
    "Prompt",
    "Recording",
    "Script",
    "Step",
    "Track",
    "analyse",
    "new_script",
    "phash",
    "read_capture",
]
