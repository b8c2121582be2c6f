"""``lpm-guard keys``: public parts, fingerprints and rotation. Never prints a secret."""

from __future__ import annotations

import typer

from ..keys import KeyKind
from ..keys.services import describe_keys, rotate_key
from .common import emit_json, operator, runtime

app = typer.Typer(help="Signing, watermark and encryption keys.", no_args_is_help=True)


@app.command()
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every key's id, status, fingerprint and public part (no private material)."""
    with runtime() as rt:
        keys = describe_keys(rt)
    if as_json:
        emit_json(keys)
        return
    for key in keys:
        typer.echo(
            f"{key['kind']:<16} {key['key_id']}  {key['status']:<8} {key['algorithm']:<12} "
            f"created {key['created_at']}"
        )
        typer.echo(f"    fingerprint  {key['fingerprint']}")
        if key.get("checkpoint_vkey"):
            typer.echo(f"    vkey         {key['checkpoint_vkey']}")
        elif key["kind"] == KeyKind.C2PA and key["public"]:
            typer.echo("    certificate chain (leaf, root): see --json")


@app.command()
def rotate(kind: KeyKind = typer.Argument(..., help="Which key to rotate.")) -> None:
    """Make a new current key; old public keys and secrets are kept so old records verify."""
    with runtime() as rt:
        info = rotate_key(rt, kind, operator())
    typer.echo(f"{info.kind.value}: new active key {info.key_id} (fingerprint {info.fingerprint})")
