"""lpm_guard.policy — pure checks over text, audio and images; the rules are a versioned data file.

A library: it imports nothing from the gate or the other stages.
"""

from .errors import InputRejected, PolicyError, PolicyFileError
from .images import MinorLikeness
from .live import LiveChecker
from .models import (
    Action,
    AudioDecision,
    Category,
    Decision,
    ImageDecision,
    PolicyHash,
    RuleId,
    Use,
)
from .policy import Policy
from .recognition import SpeechModelUnavailable, whisper_transcript

__all__ = [
    "Action",
    "AudioDecision",
    "Category",
    "Decision",
    "ImageDecision",
    "InputRejected",
    "LiveChecker",
    "MinorLikeness",
    "Policy",
    "PolicyError",
    "PolicyFileError",
    "PolicyHash",
    "RuleId",
    "SpeechModelUnavailable",
    "Use",
    "whisper_transcript",
]
