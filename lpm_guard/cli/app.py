"""The root command and its groups."""

from __future__ import annotations

from typing import Any

import typer

from ..logs import configure
from ..settings import Settings
from . import admin, audit, consent, db, instruction_reviews, keys, reviews
from .demo import demo
from .generate import generate
from .performers import generator_worker
from .verify import verify

app = typer.Typer(
    name="lpm-guard",
    help="Gated, consented, watermarked portrait animation with a tamper-evident audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
admin.app.add_typer(consent.app, name="consent")
reviews.app.add_typer(instruction_reviews.app, name="instructions")
admin.app.add_typer(reviews.app, name="review")
app.add_typer(admin.app, name="admin")
app.command(name="verify")(verify)
app.command(name="generate")(generate)
app.command(name="generator-worker")(generator_worker)
app.command(name="demo")(demo)


@app.callback()
def _setup() -> None:
    settings = Settings()
    configure(settings.log_level, json=settings.log_json)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Default: LPM_HOST (127.0.0.1)."),
    port: int | None = typer.Option(None, help="Default: LPM_PORT (8000)."),
    workers: int = typer.Option(
        1, min=1, max=64, help="Server processes on this port (each one a node)."
    ),
) -> None:
    """Start the API and web pages (upgrading the database and creating keys first)."""
    import uvicorn

    from ..api import create_app
    from ..proxies import server_options
    from ..runtime import Runtime
    from .common import errors, fail

    settings = Settings()
    options: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_config": None,
        "ws": "websockets-sansio",  # flow control: a slow client blocks the sender, not memory
        "ws_per_message_deflate": False,  # the frames are JPEG: compressing them only costs CPU
        # X-Forwarded-For believed from LPM_TRUSTED_PROXIES only (uvicorn trusts loopback).
        **server_options(settings),
    }
    if workers == 1:
        with errors():
            api = create_app(settings)
        uvicorn.run(api, **options)
        return
    if settings.node_id:
        raise fail("LPM_NODE_ID names one process: leave it unset to serve with --workers")
    # Keys, migrations and the pinned fingerprints once, before the workers race for them.
    with errors():
        Runtime.open(settings).close()
    # Each worker builds its own app (and node) from the same environment; uvicorn's
    # supervisor stops them all on SIGTERM or SIGINT, and each stops its own children.
    uvicorn.run("lpm_guard.api.app:from_environment", factory=True, workers=workers, **options)


@app.command()
def worker(
    concurrency: int = typer.Option(
        1, min=1, max=16, help="Jobs this process renders at once (threads; 1 renders fastest)."
    ),
    burst: bool = typer.Option(False, help="Stop once the queue is empty."),
) -> None:
    """Render offline jobs from the PostgreSQL queue (procrastinate), on any machine that
    shares the database, the keys (LPM_KEYS_DIR) and the media directory (LPM_MEDIA_DIR)."""
    from ..jobs.queueing import run_worker
    from .common import fail, runtime

    settings = Settings()
    if not settings.uses_procrastinate:
        raise fail(
            "`lpm-guard worker` takes jobs from PostgreSQL: set LPM_DATABASE_URL to the "
            "servers' PostgreSQL database (on SQLite each server renders its own jobs)"
        )
    with runtime(initialise=False) as rt:
        typer.echo(f"worker {rt.node_id} taking jobs from the queue", err=True)
        run_worker(rt, concurrency=concurrency, wait=not burst)


def main() -> None:
    app()
