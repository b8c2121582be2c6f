"""The policy stage's live checker, seen through the session's ``LiveCheck`` seam."""

from __future__ import annotations

import numpy as np

from ..policy import Action, Decision, Policy
from ..policy import Use as PolicyUse
from .session import PolicyStop


def policy_stop(decision: Decision) -> PolicyStop | None:
    if decision.allowed:
        return None
    return PolicyStop(
        decision.reason,
        tuple(str(rule) for rule in decision.rule_ids),
        review=decision.action is Action.REVIEW,
        categories=tuple(str(category) for category in decision.categories),
        layer=decision.layer,
        score=None if decision.score is None else round(decision.score, 3),
    )


class PolicyLiveCheck:
    """Speech and transcript through one ``LiveChecker``; instructions through the text rules."""

    def __init__(self, policy: Policy, use: PolicyUse = PolicyUse.LIVE) -> None:
        self.policy = policy
        self.use = use
        self.checker = policy.live_checker(use)

    def audio(self, samples: np.ndarray, sample_rate: int) -> PolicyStop | None:
        return policy_stop(self.checker.feed_audio(samples, sample_rate))

    def transcript(self, text: str) -> PolicyStop | None:
        return policy_stop(self.checker.feed_transcript(text))

    def instructions(self, text: str) -> PolicyStop | None:
        return policy_stop(self.policy.check_text(text, self.use))

    def close(self) -> None:
        """Nothing to release: the checker lives in this process."""
