"""``lpm-guard audit``: verify, prove, checkpoint, export, read."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..audit import VerificationError, verify_consistency, verify_inclusion
from ..auditing.services import AuditService
from .common import emit_json, errors, fail, operator, runtime

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command()
def verify(as_json: bool = JSON) -> None:
    """Recompute every leaf and subtree and check every checkpoint; non-zero exit if bad."""
    with runtime(initialise=False) as rt:
        try:
            report = AuditService(rt.audit).verify(operator())
        except VerificationError as exc:
            if as_json:
                emit_json(
                    {
                        "ok": False,
                        "error": exc.message,
                        "first_bad_index": exc.first_bad_index,
                        "problems": exc.problems,
                    }
                )
            raise fail(f"audit log does NOT verify: {exc}") from None
    if as_json:
        emit_json(report.to_json())
    else:
        typer.echo(
            f"OK: {report.tree_size} entries, root {report.root_hash.hex()}, "
            f"{report.checkpoints_verified} checkpoints verified "
            f"(latest covers {report.latest_checkpoint or 0} entries)"
        )


@app.command()
def proof(
    index: int = typer.Argument(..., help="Entry index."),
    tree_size: int | None = typer.Option(None, help="Tree size (default: current)."),
    as_json: bool = JSON,
) -> None:
    """Print (and check) the inclusion proof of an entry."""
    with runtime(initialise=False) as rt:
        result = AuditService(rt.audit).inclusion_proof(index, tree_size)
        verify_inclusion(
            result.leaf_hash, result.index, result.tree_size, result.path, result.root_hash
        )
    heading = (
        f"entry {result.index} in tree of size {result.tree_size}\n"
        f"leaf  {result.leaf_hash.hex()}\nroot  {result.root_hash.hex()}"
    )
    _show_proof(result.to_json() if as_json else None, heading, result.path)


@app.command()
def consistency(
    old_size: int = typer.Argument(..., help="Older tree size."),
    new_size: int | None = typer.Argument(None, help="Newer tree size (default: current)."),
    as_json: bool = JSON,
) -> None:
    """Print (and check) a consistency proof between two tree sizes."""
    with runtime(initialise=False) as rt:
        result = AuditService(rt.audit).consistency_proof(old_size, new_size)
        verify_consistency(
            result.old_size, result.new_size, result.old_root, result.new_root, result.path
        )
    heading = (
        f"{result.old_size} -> {result.new_size}\n"
        f"old root {result.old_root.hex()}\nnew root {result.new_root.hex()}"
    )
    _show_proof(result.to_json() if as_json else None, heading, result.path)


def _show_proof(as_json: dict[str, object] | None, heading: str, path: list[bytes]) -> None:
    if as_json is not None:
        emit_json(as_json)
        return
    typer.echo(heading)
    for step in path:
        typer.echo(f"  {step.hex()}")


@app.command()
def checkpoint(force: bool = typer.Option(False, help="Sign a new one even if recent.")) -> None:
    """Print the latest signed checkpoint, signing a new one if due."""
    with runtime() as rt:
        typer.echo(AuditService(rt.audit).checkpoint(force=force).note, nl=False)


@app.command()
def export(out: Path | None = typer.Option(None, help="File to write (default: stdout).")) -> None:
    """Export the log as JSON Lines for the standalone verifier."""
    with runtime(initialise=False) as rt:
        service = AuditService(rt.audit)
        if out is None:
            size = service.export(sys.stdout, operator())
        else:
            with errors(), out.open("w", encoding="utf-8") as handle:
                size = service.export(handle, operator())
    typer.echo(f"exported {size} entries", err=True)


@app.command()
def show(index: int, as_json: bool = JSON) -> None:
    """Print one entry."""
    with runtime(initialise=False) as rt:
        stored = AuditService(rt.audit).read_entry(index, operator())
    if as_json:
        emit_json(stored.entry.to_json())
    else:
        typer.echo(stored.body.decode())


@app.command()
def about(
    name: str = typer.Argument(..., help="An id: session, job, identity, account, ..."),
    action: str | None = typer.Option(None, help="Only entries with this action."),
    before: int | None = typer.Option(None, min=0, help="Only entries below this index."),
    count: int = typer.Option(50, "-n", min=1, max=200, help="How many entries at most."),
    as_json: bool = JSON,
) -> None:
    """Print the entries about an id (its actor or one of its objects), newest first."""
    with runtime() as rt:
        page = AuditService(rt.audit).search(
            operator(), about=name, action=action, before=before, limit=count
        )
    if as_json:
        emit_json(
            {
                "entries": [stored.entry.to_json() for stored in page.entries],
                "next_before": page.next_before,
            }
        )
        return
    for stored in page.entries:
        typer.echo(stored.body.decode())
    if page.next_before is not None:
        typer.echo(f"more: --before {page.next_before}", err=True)


@app.command()
def tail(count: int = typer.Option(20, "-n", min=1, help="How many entries.")) -> None:
    """Print the last entries, one canonical JSON line each."""
    with runtime(initialise=False) as rt:
        size = rt.audit.size()
        for stored in rt.audit.entries(max(0, size - count)):
            typer.echo(stored.body.decode())
