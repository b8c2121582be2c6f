"""/v1/verify and /v1/provenance/trust-anchors over HTTP (and the raw ASGI app for uploads
too large to send through the test client, which reads a body whole before calling the app)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lpm_guard.api import create_app
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings

PROBLEM = "application/problem+json"
LIMIT = 4 * 1024 * 1024
GIB = 1024**3
CHUNK = b"\0" * (1024 * 1024)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        checkpoint_interval_s=3600,
        log_json=True,
        verify_max_upload_bytes=LIMIT,
        verify_rate_limit="5/minute",
    )


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime=runtime)


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_trust_anchors_publish_our_root(http: TestClient, runtime: Runtime) -> None:
    root = runtime.keys.c2pa_root_certificate()
    body = http.get("/v1/provenance/trust-anchors").json()
    [anchor] = body["trust_anchors"]
    assert x509.load_pem_x509_certificate(anchor["pem"].encode()) == root
    assert anchor["subject"] == root.subject.rfc4514_string()
    pem = http.get("/v1/provenance/trust-anchors.pem")
    assert pem.status_code == 200 and pem.headers["content-type"].startswith("application/x-pem")
    assert pem.text == root.public_bytes(Encoding.PEM).decode()


def test_verify_a_signed_clip_anonymously(http: TestClient, signed: Path) -> None:
    response = http.post(
        "/v1/verify", content=signed.read_bytes(), headers={"Content-Type": "video/mp4"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["schema_version"] == 2
    assert report["verdict"] == "authentic"
    assert report["c2pa"]["status"] == "trusted"
    assert report["audit"]["status"] == "included"


def test_non_video_and_truncated_uploads_are_4xx_problems(http: TestClient, signed: Path) -> None:
    text = http.post("/v1/verify", content=b"hello, this is not a video" * 10)
    assert text.status_code == 415 and text.headers["content-type"] == PROBLEM
    assert text.json()["type"] == "urn:lpm-guard:problem:unsupported-media"
    empty = http.post("/v1/verify", content=b"")
    assert empty.status_code == 415
    form = http.post("/v1/verify", files={"file": ("clip.mp4", signed.read_bytes())})
    assert form.status_code == 415 and "raw request body" in form.json()["detail"]
    data = signed.read_bytes()
    cut = http.post("/v1/verify", content=data[: len(data) // 2])
    assert cut.status_code == 422 and "truncated" in cut.json()["detail"]


def test_verification_is_rate_limited_per_address(http: TestClient) -> None:
    codes = [http.post("/v1/verify", content=b"x").status_code for _ in range(6)]
    assert codes[:5] == [415] * 5
    assert codes[5] == 429
    limited = http.post("/v1/verify", content=b"x")
    assert limited.headers["content-type"] == PROBLEM
    assert int(limited.headers["retry-after"]) >= 1


class Upload:
    """Drives the ASGI app with a request body of ``total`` bytes, counting what it reads."""

    def __init__(self, total: int, *, declare: bool) -> None:
        self.total, self.declare = total, declare
        self.sent = 0
        self.status: int | None = None
        self.body = b""

    async def run(self, app: FastAPI) -> None:
        headers = [(b"content-type", b"video/mp4"), (b"host", b"testserver")]
        if self.declare:
            headers.append((b"content-length", str(self.total).encode()))
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/verify",
            "raw_path": b"/v1/verify",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("198.51.100.7", 40000),
            "server": ("testserver", 80),
        }
        await app(scope, self.receive, self.send)

    async def receive(self) -> dict[str, Any]:
        if self.sent >= self.total:
            return {"type": "http.disconnect"}
        self.sent += len(CHUNK)
        return {"type": "http.request", "body": CHUNK, "more_body": self.sent < self.total}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def test_a_declared_2gb_upload_is_refused_before_reading_the_body(app: FastAPI) -> None:
    upload = Upload(2 * GIB, declare=True)
    asyncio.run(upload.run(app))
    assert upload.status == 413
    assert upload.sent == 0
    assert b"media-too-large" in upload.body


def test_a_streamed_2gb_upload_is_cut_off_at_the_limit(app: FastAPI) -> None:
    upload = Upload(2 * GIB, declare=False)
    asyncio.run(upload.run(app))
    assert upload.status == 413
    assert upload.sent <= LIMIT + len(CHUNK)
