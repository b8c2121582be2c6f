"""Trusted proxies (issue 18, L2): ``X-Forwarded-For`` is believed from LPM_TRUSTED_PROXIES
only, so a spoofed header does not move a caller out of its per-address limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from lpm_guard.api import create_app
from lpm_guard.cli import app as cli_app
from lpm_guard.proxies import server_options
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.server import free_port


def test_no_proxy_is_trusted_by_default() -> None:
    assert server_options(Settings()) == {"proxy_headers": False, "forwarded_allow_ips": ""}
    trusted = Settings(trusted_proxies=" 127.0.0.1, 10.0.0.0/8 ,")
    assert server_options(trusted) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["127.0.0.1", "10.0.0.0/8"],
    }


@pytest.mark.parametrize(("trusted", "expected"), [("", False), ("127.0.0.1", True)])
def test_serve_passes_the_setting_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: str, expected: bool
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    env = {
        "LPM_DATA_DIR": str(tmp_path / "data"),
        "LPM_LOG_LEVEL": "WARNING",
        "LPM_TRUSTED_PROXIES": trusted,
    }
    result = CliRunner().invoke(cli_app, ["serve", "--port", "8123"], env=env)
    assert result.exit_code == 0, result.output
    assert seen["proxy_headers"] is expected
    assert seen["forwarded_allow_ips"] == ([trusted] if trusted else "")


@contextmanager
def _serving(settings: Settings) -> Iterator[httpx.Client]:
    """The app under uvicorn with the options ``lpm-guard serve`` gives it."""
    runtime = Runtime.open(settings)
    port = free_port()
    config = uvicorn.Config(
        create_app(runtime=runtime),
        host="127.0.0.1",
        port=port,
        log_config=None,
        **server_options(settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(20)
        runtime.close()


def _verify_statuses(client: httpx.Client, times: int) -> list[int]:
    """POST /v1/verify with nothing to verify, each time claiming another forwarded address:
    a 4xx for the empty body, or 429 once the caller's address is over the limit."""
    return [
        client.post(
            "/v1/verify",
            content=b"",
            headers={"Content-Type": "video/mp4", "X-Forwarded-For": f"198.51.100.{n}"},
        ).status_code
        for n in range(times)
    ]


def test_a_spoofed_forwarded_address_does_not_escape_the_limit(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", checkpoint_interval_s=3600, verify_rate_limit="3/minute"
    )
    with _serving(settings) as client:
        statuses = _verify_statuses(client, 5)
    assert 429 not in statuses[:3] and statuses[3:] == [429, 429], statuses


def test_a_trusted_proxy_forwards_the_client_address(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        checkpoint_interval_s=3600,
        verify_rate_limit="3/minute",
        trusted_proxies="127.0.0.1",
    )
    with _serving(settings) as client:
        statuses = _verify_statuses(client, 5)
    assert 429 not in statuses, statuses  # five callers behind the proxy, one request each
