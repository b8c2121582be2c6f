"""The subject's page in a real headless Chromium against a real server: the statement and the
challenge phrase come from the API through the link's fragment."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from lpm_guard.api import create_app
from lpm_guard.consent.models import Use
from lpm_guard.consent.services import ConsentService
from lpm_guard.runtime import Runtime

from .conftest import PRINCIPALS, People, TokenAuthenticator, png

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")


@pytest.fixture
def server(runtime: Runtime) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(runtime=runtime, authenticator=TokenAuthenticator())
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


def dom(url: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=8000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return done.stdout


@pytest.mark.slow
def test_the_page_shows_the_invitation_and_the_revocation(
    server: str, runtime: Runtime, people: People
) -> None:
    service = ConsentService(runtime)
    researcher = PRINCIPALS["token-researcher-a"]
    identity = service.create_identity(researcher, "Page subject", [png(people.t1[0])])
    link = service.invite(researcher, identity.id, [Use.LIVE], excluded_content="advertising")
    phrase = service.read_invitation(link.token).challenge_phrase

    page = dom(f"{server}/consent.html#{link.token}")
    assert "You are invited to consent as “Page subject”." in page
    assert f'<span id="phrase">{phrase}</span>' in page
    assert "advertising" in page and "researcher-a" in page

    assert "This link is not valid" in dom(f"{server}/consent.html#{'x' * 43}")
    revocation = dom(f"{server}/consent.html#revoke={'y' * 43}")
    assert "You can withdraw your consent here." in revocation
