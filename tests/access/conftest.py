"""A live server (uvicorn in a thread, a free port) shared by the access tests; real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher

from lpm_guard.access import passwords
from lpm_guard.api import create_app
from lpm_guard.consent.settings import ConsentSettings
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests import mailbox
from tests.access.world import World


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session", autouse=True)
def _cheap_argon2() -> Iterator[None]:
    """argon2id at its lowest cost for the tests (the defaults take ~300 ms a hash on a busy
    two-core machine; ``test_passwords`` checks that production keeps them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        )
        yield


@pytest.fixture(scope="session")
def live_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with serving_world(tmp_path_factory.mktemp("access") / "data") as world:
        yield world


@contextmanager
def serving_world(data: Path) -> Iterator[World]:
    """A runtime and its app on a free loopback port (settings also from LPM_ variables)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # Every test of the session signs in from this one address: the per-address sign-in limit
    # (tests/live/test_limits_shared.py tests it) is raised here.
    settings = Settings(
        data_dir=data,
        public_url=url,
        checkpoint_interval_s=3600,
        log_level="WARNING",
        sign_in_rate_limit="1000/minute",
        sign_up_rate_limit="1000/minute",
    )
    runtime = Runtime.open(settings)
    app = create_app(runtime=runtime)
    # Consent invitations are mailed to the subject: a loopback SMTP server takes them.
    with mailbox.smtp_server() as box:
        app.state.consent_settings = ConsentSettings(public_url=url, **box.settings())
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as http:
            yield World(app.state.access, http, url, runtime)
        server.should_exit = True
        thread.join(10)
        runtime.close()


@pytest.fixture
def world(live_world: World) -> World:
    return live_world
