"""Rate limits every node shares: ``limits``' moving window in Redis (``LPM_REDIS_URL``), or in
this process's memory without it (one machine, one process: nothing to share).

A limit is checked by ``hit``; when Redis cannot be reached the request is refused with a 503
problem (``Unavailable``) rather than let through uncounted, and the next request after Redis
is back is counted again (the client reconnects on its own).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from .errors import LpmGuardError, Unavailable
from .logs import get_logger
from .settings import Settings

log = get_logger(__name__)

# How long one Redis call may take before the request is refused (seconds).
REDIS_TIMEOUT_S = 1.0


class RateLimited(LpmGuardError):
    status, slug, title = 429, "rate-limited", "Too many requests"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int  # 0 when allowed


def of_app(state: object, settings: Settings) -> RateLimits:
    """The app's limiter (``app.state.rate_limits``), made on first use."""
    limits: RateLimits | None = getattr(state, "rate_limits", None)
    if limits is None:
        limits = RateLimits.from_settings(settings)
        state.rate_limits = limits  # type: ignore[attr-defined]
    return limits


class RateLimits:
    """One limiter over one storage, shared by every limit of the app."""

    def __init__(self, storage: Storage, *, shared: bool) -> None:
        self.storage = storage
        self.shared = shared  # True: every node counts in the same place
        self.limiter = MovingWindowRateLimiter(storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        if settings.redis_url:
            storage: Storage = RedisStorage(
                settings.redis_url,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
            return cls(storage, shared=True)
        return cls(MemoryStorage(), shared=False)

    def hit(self, rate: RateLimitItem, *identifiers: str) -> Verdict:
        """Count one request against ``rate`` for ``identifiers``; raises ``Unavailable`` when
        the shared storage cannot be reached."""
        try:
            if self.limiter.hit(rate, *identifiers):
                return Verdict(True, 0)
            reset, _ = self.limiter.get_window_stats(rate, *identifiers)
        except Exception as exc:  # redis' connection and timeout errors, whatever the version
            log.warning("the rate limits' storage cannot be reached", error=str(exc))
            raise Unavailable(
                "the rate limits' storage (Redis) cannot be reached; try again shortly",
                retry_after_s=5,
            ) from None
        return Verdict(False, max(1, math.ceil(reset - time.time())))

    def tally(self, key: str, window_s: int) -> int:
        """Count one more event under ``key`` in a fixed window of ``window_s`` seconds and
        return the count so far (the audit log's aggregation of refused sign-ins); raises
        ``Unavailable`` when the shared storage cannot be reached."""
        try:
            return int(self.storage.incr(f"lpm-tally/{key}", window_s))
        except Exception as exc:  # as in ``hit``
            log.warning("the rate limits' storage cannot be reached", error=str(exc))
            raise Unavailable(
                "the rate limits' storage (Redis) cannot be reached; try again shortly",
                retry_after_s=5,
            ) from None

    def check(self, rate: str | RateLimitItem, scope: str, client: str, what: str) -> None:
        """``hit``, raising ``RateLimited`` (429, with ``retry_after_s``) when over."""
        item = parse(rate) if isinstance(rate, str) else rate
        verdict = self.hit(item, scope, client)
        if not verdict.allowed:
            raise RateLimited(
                f"at most {item} {what} per client address",
                retry_after_s=verdict.retry_after_s,
            )

    def close(self) -> None:
        closer = getattr(self.storage, "storage", None)
        if closer is not None and hasattr(closer, "close"):
            try:
                closer.close()
            except Exception:  # pragma: no cover - closing a broken connection
                log.debug("closing the rate limits' storage failed")
