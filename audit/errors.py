"""One error family for the audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class AuditError(Exception):
    """Base of every error the audit log raises."""


class ProofError(AuditError, ValueError):
    """A proof request is malformed, or a proof does not verify."""


class CheckpointError(AuditError):
    """A checkpoint note is malformed or its signature does not verify."""


class AppendOnlyViolation(AuditError):
    """The database refused to change or remove a log row."""


class VerificationError(AuditError):
    """The log does not verify; ``first_bad_index`` names where it first goes wrong."""

    def __init__(
        self,
        message: str,
        first_bad_index: int | None,
        problems: Sequence[Mapping[str, object]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.first_bad_index = first_bad_index
        self.problems = list(problems)

    def __str__(self) -> str:
        where = "" if self.first_bad_index is None else f" (first bad index {self.first_bad_index})"
        return f"{self.message}{where}"
