"""``lpm-guard admin review instructions``: live sessions' instructions held for a reviewer.

The same ``InstructionReviewService`` as ``/v1/review/instructions``; each decision is audited
under the operator's name. The session's own node applies an approval at its next watch
(through the database), so this command need not run where the session does.
"""

from __future__ import annotations

import typer

from ..auditing.services import AuditService
from ..live.holds import HeldStatus, InstructionReviewView
from ..live.reviews import InstructionReviewService
from ..runtime import Runtime
from .common import emit_json, operator, runtime

app = typer.Typer(help="Live sessions' instructions held for review.", no_args_is_help=True)

AS_JSON = typer.Option(False, "--json", help="Print JSON.")
REASON = typer.Option(..., "--reason", help="Why (recorded in the audit log).")


def _service(rt: Runtime) -> InstructionReviewService:
    return InstructionReviewService(rt, AuditService(rt.audit))


def _line(view: InstructionReviewView) -> str:
    score = "" if view.score is None else f" {view.score:.2f}"
    categories = ",".join(view.categories) or "-"
    return (
        f"{view.id}  {view.status.value:<13} age={view.age_s / 60:.0f}min"
        f"  session={view.session_id}  owner={view.owner}"
        f"  {categories} ({view.layer or '-'}{score})  {view.instructions[:60]!r}"
    )


@app.command("list")
def list_held(
    status: HeldStatus | None = typer.Option(HeldStatus.PENDING, help="Only this status."),
    as_json: bool = AS_JSON,
) -> None:
    """Held instructions, oldest first (pending unless asked): the queue."""
    with runtime() as rt:
        views = _service(rt).queue(status)
    if as_json:
        emit_json([view.as_json() for view in views])
        return
    if not views:
        typer.echo("no held instructions")
    for view in views:
        typer.echo(_line(view))


@app.command()
def show(review_id: str) -> None:
    """Held instructions' evidence and decision, as JSON."""
    with runtime() as rt:
        emit_json(_service(rt).detail(review_id).as_json())


def _decide(review_id: str, reason: str, *, approve: bool) -> None:
    with runtime() as rt:
        view = _service(rt).decide(operator(), review_id, approve=approve, reason=reason)
    then = "the session applies them" if approve else "the requester is told"
    typer.echo(f"{review_id}: {view.status.value}; {then} (session {view.session_id})")


@app.command()
def approve(review_id: str, reason: str = REASON) -> None:
    """Approve held instructions: the session applies them within about half a second."""
    _decide(review_id, reason, approve=True)


@app.command()
def deny(review_id: str, reason: str = REASON) -> None:
    """Deny held instructions: never applied; the requester hears the reason."""
    _decide(review_id, reason, approve=False)
