"""``lpm-guard admin consent``: identities, revocation, live captures and synthetic reviews,
protected people.

The same ``ConsentService`` methods as the API; each records its audit event as the operator.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from ..consent.captures import CaptureService
from ..consent.models import CaptureStatus, IdentityStatus
from ..consent.services import ConsentService
from .common import emit_json, fail, operator, runtime

app = typer.Typer(help="Identities, consent and protected people.", no_args_is_help=True)

AS_JSON = typer.Option(False, "--json", help="Print JSON.")
REASON = typer.Option(..., "--reason", help="Why (recorded in the audit log).")


@app.command()
def identities(
    status: IdentityStatus | None = typer.Option(None, help="Only identities in this state."),
    as_json: bool = AS_JSON,
) -> None:
    """List every identity (id, owner, kind, status, uses, expiry)."""
    with runtime() as rt:
        views = ConsentService(rt).list_all_identities(status)
    if as_json:
        emit_json([dataclasses.asdict(view) for view in views])
        return
    for view in views:
        uses = ",".join(view.allowed_uses) or "-"
        typer.echo(
            f"{view.id}  {view.status:<16} {view.kind:<9} {uses:<12} "
            f"owner={view.owner} expires={view.expires_at or '-'}  {view.display_name}"
        )


@app.command()
def revoke(identity_id: str, reason: str = REASON) -> None:
    """Revoke an identity's consent: new requests are denied, its photos deleted."""
    with runtime() as rt:
        view = ConsentService(rt).revoke_by_reviewer(operator(), identity_id, reason)
    typer.echo(f"{view.id}: {view.status}")


@app.command()
def captures(
    status: CaptureStatus | None = typer.Option(
        CaptureStatus.AWAITING_REVIEW, help="Only captures in this state."
    ),
    as_json: bool = AS_JSON,
) -> None:
    """Live consent captures, oldest first, with their age and flags (the review queue)."""
    with runtime() as rt:
        items = CaptureService(ConsentService(rt)).queue(status)
    if as_json:
        emit_json([dataclasses.asdict(item) for item in items])
        return
    for item in items:
        flags = ",".join(item.flags) or "-"
        typer.echo(
            f"{item.capture_id}  {item.status:<16} age={item.age_s / 3600:.1f}h flags={flags}  "
            f"{item.identity_id} {item.display_name} (by {item.researcher})"
        )


@app.command("approve-capture")
def approve_capture(capture_id: str, reason: str = REASON) -> None:
    """Approve a person's consent after watching its capture (the review console shows it)."""
    with runtime() as rt:
        view = CaptureService(ConsentService(rt)).decide(
            operator(), capture_id, approve=True, reason=reason
        )
    typer.echo(f"{view.id}: {view.status}")


@app.command("reject-capture")
def reject_capture(capture_id: str, reason: str = REASON) -> None:
    """Reject a capture: the consent never comes into force."""
    with runtime() as rt:
        view = CaptureService(ConsentService(rt)).decide(
            operator(), capture_id, approve=False, reason=reason
        )
    typer.echo(f"{view.id}: {view.status}")


@app.command()
def approve(identity_id: str, reason: str = REASON) -> None:
    """Approve a synthetic character waiting for review."""
    with runtime() as rt:
        view = ConsentService(rt).review_synthetic(
            operator(), identity_id, approve=True, reason=reason
        )
    typer.echo(f"{view.id}: {view.status}")


@app.command()
def reject(identity_id: str, reason: str = REASON) -> None:
    """Reject a synthetic character waiting for review."""
    with runtime() as rt:
        view = ConsentService(rt).review_synthetic(
            operator(), identity_id, approve=False, reason=reason
        )
    typer.echo(f"{view.id}: {view.status}")


@app.command()
def protect(
    name: str,
    photos: list[Path] = typer.Argument(..., help="Photos of the person, one face each."),
    reason: str = REASON,
) -> None:
    """Add a person who must never be generated."""
    data = []
    for photo in photos:
        if not photo.is_file():
            raise fail(f"{photo}: no such file")
        data.append(photo.read_bytes())
    with runtime() as rt:
        view = ConsentService(rt).add_protected(operator(), name, reason, data)
    typer.echo(f"{view.id}: protected ({view.photos} photo(s))")


@app.command()
def protected(as_json: bool = AS_JSON) -> None:
    """List protected people."""
    with runtime() as rt:
        views = ConsentService(rt).list_protected()
    if as_json:
        emit_json([dataclasses.asdict(view) for view in views])
        return
    for view in views:
        typer.echo(f"{view.id}  photos={view.photos}  by={view.created_by}  {view.name}")
