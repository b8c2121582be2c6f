"""Issue 18, L5: the verify rate limit holds under concurrency. 40 clients post at once, over
and over, to a real server; no more verifications get past the limiter than it allows."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from lpm_guard.api import create_app
from lpm_guard.ratelimits import RateLimits
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.server import serving

ALLOWED = 20
CLIENTS = 40


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    settings = Settings(
        data_dir=tmp_path / "data",
        checkpoint_interval_s=3600,
        log_level="WARNING",
        verify_rate_limit=f"{ALLOWED}/minute",
        verify_workers=64,
    )
    runtime = Runtime.open(settings)
    try:
        with serving(create_app(runtime=runtime)) as served:
            yield served
    finally:
        runtime.close()


def test_forty_concurrent_clients_get_no_more_than_the_limit(url: str) -> None:
    def client(_: int) -> list[int]:
        with httpx.Client(base_url=url, timeout=60) as http:
            return [http.post("/v1/verify", content=b"not a video").status_code for _ in range(4)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [code for codes in pool.map(client, range(CLIENTS)) for code in codes]
    assert set(statuses) <= {415, 429, 503}
    # Every request past the limiter is a 415 (the body is no video); 503s are the busy gate.
    assert statuses.count(415) + statuses.count(503) == ALLOWED, statuses


def test_the_memory_limiter_is_exact_across_threads() -> None:
    """The limiter itself, 40 threads hitting one key at once, many rounds."""
    from limits import parse

    rate = parse("5/minute")
    for _ in range(20):
        limits = RateLimits.from_settings(Settings())

        def hit(_: int, limits: RateLimits = limits) -> bool:
            return limits.hit(rate, "t", "a").allowed

        with ThreadPoolExecutor(CLIENTS) as pool:
            verdicts = list(pool.map(hit, range(200)))
        assert verdicts.count(True) == 5
