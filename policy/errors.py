"""One error family for the policy stage, rooted in PolicyError."""

from __future__ import annotations


class PolicyError(Exception):
    """Base of every error the policy stage raises."""


class PolicyFileError(PolicyError):
    """The policy file is missing, unreadable or invalid; nothing is checked against it."""


class InputRejected(PolicyError):
    """An input breaks a limit of the policy file (format, size, duration, sample rate).

    ``limit`` names the limit (``audio.format``, ``image.pixels``...), for callers that map
    it to an HTTP problem or a CLI message.
    """

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
