"""Benchmark of access (``lpm_guard.access``): the cost every request pays to authenticate, and
the cost of signing in and of getting a token.

    .venv/bin/python bench/access.py                 # 5 runs of each measurement: ~30 s
    .venv/bin/python bench/access.py --quick         # 2 runs
    .venv/bin/python bench/access.py --json out.json # also write the results as JSON

Every figure is the median over runs, each run the mean of a batch. ``authenticate`` is the
per-request check (ES256 signature and claims by Authlib, the token row, the account's standing:
SQLite in WAL mode in a temporary data directory); ``GET /v1/me`` and the token endpoint go
through the whole ASGI app in process (Starlette's test client), no network.
Target: authenticate <= 5 ms per request (the gate pays it on every call).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accounts import PASSWORD, approved_researcher  # bench/accounts.py
from fastapi.testclient import TestClient
from report import cpu_model, progress, table  # bench/report.py

from lpm_guard.access.authenticator import TokenAuthenticator
from lpm_guard.access.models import IntendedUse
from lpm_guard.access.passwords import hash_password, verify_password
from lpm_guard.api import create_app
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings

TARGET_AUTHENTICATE_MS = 5.0


def _timed(batch: int, runs: int, action: Callable[[], Any]) -> float:
    """Median over ``runs`` of the mean time of one call in a batch, in milliseconds."""
    means = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(batch):
            action()
        means.append((time.perf_counter() - started) * 1000 / batch)
    return statistics.median(means)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 runs instead of 5")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    runs = 2 if args.quick else 5

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", checkpoint_interval_s=3600)
        runtime = Runtime.open(settings)
        app = create_app(runtime=runtime)
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            services = app.state.access
            researcher = approved_researcher(
                services,
                "Measuring how long access checks take per request.",
                [IntendedUse.OFFLINE],
            )
            auth = (researcher.client_id, researcher.client_secret)

            def issue() -> str:
                response = client.post(
                    "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth
                )
                assert response.status_code == 200, response.text
                token: str = response.json()["access_token"]
                return token

            token = issue()
            authenticator = TokenAuthenticator(
                runtime.engine, runtime.keys, settings.resolved_public_url
            )
            assert authenticator.authenticate(token) is not None
            headers = {"Authorization": f"Bearer {token}"}
            stored = hash_password(PASSWORD)

            results: dict[str, float] = {}
            progress("argon2id hash and verify")
            results["argon2_hash_ms"] = _timed(5, runs, lambda: hash_password(PASSWORD))
            results["argon2_verify_ms"] = _timed(5, runs, lambda: verify_password(stored, PASSWORD))
            progress("authenticate")
            results["authenticate_ms"] = _timed(
                200, runs, lambda: authenticator.authenticate(token)
            )
            progress("GET /v1/me")
            results["get_me_ms"] = _timed(100, runs, lambda: client.get("/v1/me", headers=headers))
            progress("token endpoint")
            results["client_credentials_ms"] = _timed(20, runs, issue)
        runtime.close()

    verdict = "PASS" if results["authenticate_ms"] <= TARGET_AUTHENTICATE_MS else "MISS"
    print(f"CPU: {cpu_model()}; Python {platform.python_version()}; SQLite, {runs} runs")
    rows = [
        ["measurement", "median ms", "target"],
        ["argon2id hash (sign-up, password change)", f"{results['argon2_hash_ms']:.1f}", ""],
        ["argon2id verify (each sign-in)", f"{results['argon2_verify_ms']:.1f}", ""],
        [
            "authenticate (per request)",
            f"{results['authenticate_ms']:.2f}",
            f"<= {TARGET_AUTHENTICATE_MS:g} {verdict}",
        ],
        ["GET /v1/me in process", f"{results['get_me_ms']:.2f}", ""],
        ["POST /oauth/token client_credentials", f"{results['client_credentials_ms']:.2f}", ""],
    ]
    print(table(rows, right={1}))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs, "cpu": cpu_model(), **results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
