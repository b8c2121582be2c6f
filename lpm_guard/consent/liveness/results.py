"""What each liveness check returns: an outcome for the decision, a score for the reviewer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"  # the capture is refused with the check's name as the code
    FLAG = "flag"  # shown to the reviewer; never a refusal on its own


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check. ``score``, ``threshold`` and ``detail`` are for the reviewer only: the
    subject's refusal carries the name, never a number (a tuning oracle otherwise)."""

    name: str
    outcome: Outcome
    score: float | None
    threshold: float | None
    detail: str

    @property
    def failed(self) -> bool:
        return self.outcome == Outcome.FAIL

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = str(self.outcome)
        if self.score is not None:
            data["score"] = round(self.score, 4)
        return data


def result(
    name: str, passed: bool, score: float | None, threshold: float | None, detail: str
) -> CheckResult:
    return CheckResult(name, Outcome.PASS if passed else Outcome.FAIL, score, threshold, detail)
