"""lpm_guard.generator — a live portrait performer from one photo.

A ``Character`` is rigged once from a photo (plus optional references of the same person, or
explicit landmarks for drawn characters); a ``Performance`` over it takes the agent's audio (the
character speaks), the user's audio (it listens) and text instructions, and yields frames at a
fixed rate. ``render`` writes an MP4 from audio files. A library: it imports nothing from the
gate or the other stages.
"""

from .audio import SAMPLE_RATE, VoiceAnalyzer, load_audio
from .character import Character
from .controls import FaceControls, Role, State, VoiceFrame
from .errors import (
    AudioError,
    GeneratorError,
    ImageError,
    LandmarkError,
    MultipleFacesError,
    NoFaceError,
)
from .offline import render
from .performance import Frame, Performance
from .phones import Phone
from .phones import align as align_words
from .rig import Reference

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "Character",
    "FaceControls",
    "Frame",
    "GeneratorError",
    "ImageError",
    "LandmarkError",
    "MultipleFacesError",
    "NoFaceError",
    "Performance",
    "Phone",
    "Reference",
    "Role",
    "State",
    "VoiceAnalyzer",
    "VoiceFrame",
    "align_words",
    "load_audio",
    "render",
]
