"""The root command and its groups."""

from __future__ import annotations

import typer

from ..logs import configure
from ..settings import Settings
from . import admin, audit, consent, db, keys
from .generate import generate
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
app.add_typer(admin.app, name="admin")
app.command(name="verify")(verify)
app.command(name="generate")(generate)


@app.callback()
def _setup() -> None:
    settings = Settings()
    configure(settings.log_level, json=settings.log_json)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Default: LPM_HOST (127.0.0.1)."),
    port: int | None = typer.Option(None, help="Default: LPM_PORT (8000)."),
) -> None:
    """Start the API and web pages (upgrading the database and creating keys first)."""
    import uvicorn

    from ..api import create_app
    from .common import errors

    settings = Settings()
    with errors():
        api = create_app(settings)
    uvicorn.run(
        api,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        ws="websockets-sansio",  # flow control: a slow client blocks the sender, not memory
        ws_per_message_deflate=False,  # the frames are JPEG: compressing them again only costs CPU
    )


def main() -> None:
    app()
