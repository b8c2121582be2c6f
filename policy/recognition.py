"""Whisper base for the gate's own speech checks (the consent capture's spoken digits and
statement): the same packaged, sha256-pinned model the offline audio check loads, one copy per
process. Nothing is fetched; a missing or altered model raises ``SpeechModelUnavailable``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._internal import whisper
from .errors import PolicyError

RATE = whisper.RATE  # the sample rate Whisper takes


class SpeechModelUnavailable(PolicyError):
    """Whisper base is not installed, does not match its pinned hashes, or cannot run."""


def whisper_transcript(audio: npt.NDArray[np.float32]) -> str:
    """Whisper base's free transcript of ``audio`` (mono, 16 kHz, samples in [-1, 1]), as
    Whisper writes it: punctuation and numerals ("3-8-6-1") included. Up to 30 s."""
    try:
        return whisper.transcribe_text(audio)
    except whisper.SpeechModelError as error:
        raise SpeechModelUnavailable(str(error)) from error
