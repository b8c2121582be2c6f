"""``lpm-guard db``: migrations."""

from __future__ import annotations

import typer

from ..database import current_revision, head_revision, make_engine
from ..settings import Settings
from .common import errors, runtime

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Create or upgrade the database to the latest schema (and the keys, if missing)."""
    with runtime() as rt:
        typer.echo(f"database at revision {current_revision(rt.engine)}")


@app.command()
def current() -> None:
    """Print the database's schema revision and the latest one."""
    with errors():
        engine = make_engine(Settings().resolved_database_url)
        try:
            typer.echo(f"current: {current_revision(engine)}\nhead:    {head_revision()}")
        finally:
            engine.dispose()
