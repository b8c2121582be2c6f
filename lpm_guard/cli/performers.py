"""``lpm-guard generator-worker``: serve the CPU generator (or any backend) to gates."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import typer
from websockets.asyncio.server import Server

from .common import fail


def generator_worker(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(9300, min=0, max=65535, help="Port (0: any free one, printed)."),
    capacity: int = typer.Option(1, min=1, max=64, help="Performers served at once."),
    secret_file: Path = typer.Option(
        None,
        envvar="LPM_GENERATOR_WORKER_SECRET_FILE",
        help="A file holding this worker's secret (16 characters or more); the gate sends it.",
    ),
    tls_cert: Path = typer.Option(None, help="The worker's TLS certificate (PEM): wss://."),
    tls_key: Path = typer.Option(None, help="Its private key (PEM)."),
    client_ca: Path = typer.Option(
        None, help="Accept only gates with a certificate from this CA (mutual TLS)."
    ),
) -> None:
    """Serve performers to the gate over WebSocket. Holds no keys and stores nothing: each
    session's photos arrive with it and are dropped when it ends."""
    from ..performers.local import LocalBackend
    from ..performers.server import WorkerServer, run, server_tls

    if secret_file is None:
        raise fail("a worker needs its secret: --secret-file or LPM_GENERATOR_WORKER_SECRET_FILE")
    try:
        secret = secret_file.read_text().strip().encode()
    except OSError as exc:
        raise fail(f"cannot read the secret file: {exc.strerror}") from None
    if len(secret) < 16:
        raise fail("the worker's secret must be at least 16 characters")
    if (tls_cert is None) != (tls_key is None) or (client_ca is not None and tls_cert is None):
        raise fail("TLS needs --tls-cert and --tls-key (and --client-ca only with them)")
    tls = (
        server_tls(str(tls_cert), str(tls_key), str(client_ca) if client_ca else None)
        if tls_cert
        else None
    )
    server = WorkerServer(LocalBackend(), secret, capacity=capacity)
    scheme = "wss" if tls else "ws"

    def listening(bound: Server) -> None:
        address = next(iter(bound.sockets)).getsockname()
        typer.echo(f"generator-worker {os.getpid()} listening on {scheme}://{host}:{address[1]}")

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(server, host, port, tls=tls, ready=listening))
