"""A server starts its check workers at startup (``warm_workers``), so that the first generation
or live session does not wait for them, and stops every one of them when it stops."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lpm_guard.api import create_app
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings


def _settings(tmp_path: Path, warm: bool) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        checkpoint_interval_s=3600,
        warm_workers=warm,
        audio_check_workers=1,
        live_speech_workers=1,
    )


@pytest.mark.slow
def test_the_check_workers_start_with_the_server_and_stop_with_it(tmp_path: Path) -> None:
    runtime = Runtime.open(_settings(tmp_path, warm=True))
    app = create_app(runtime=runtime)
    try:
        with TestClient(app) as client:
            # No request has needed them yet: the server started them on its own.
            deadline = time.monotonic() + 180
            while not getattr(app.state, "live_services", None) or not (
                app.state.live_services.checks._workers
            ):
                assert time.monotonic() < deadline, "the check workers did not start"
                time.sleep(0.2)
            executor = app.state.jobs.audio_checks._executor
            audio = list(executor._processes.values())
            speech = [worker.process for worker in app.state.live_services.checks._workers]
            assert len(audio) == len(speech) == 1
            assert all(p.is_alive() for p in audio + speech)
            assert client.get("/healthz").status_code == 200
        for process in audio + speech:
            process.join(10)
        assert not any(p.is_alive() for p in audio + speech)
    finally:
        runtime.close()


def test_without_warm_workers_nothing_starts_before_a_request_needs_it(tmp_path: Path) -> None:
    runtime = Runtime.open(_settings(tmp_path, warm=False))
    app = create_app(runtime=runtime)
    try:
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            assert getattr(app.state, "jobs", None) is None
            assert getattr(app.state, "live_services", None) is None
    finally:
        runtime.close()
