"""``lpm-guard admin review``: offline jobs the policy held for a reviewer.

The same ``ReviewService`` as ``/v1/review/generations``; each decision is audited under the
operator's name. On one machine (SQLite) an approved job renders in this command's own worker
process, which waits for it; on PostgreSQL it goes to procrastinate's queue for the workers.
"""

from __future__ import annotations

import dataclasses
import time

import typer

from ..gate.services import build_gate_services
from ..jobs.holds import ReviewStatus, ReviewView
from ..jobs.ledger import FINISHED
from ..jobs.reviews import ReviewService
from ..jobs.service import JobService
from .common import emit_json, operator, runtime

app = typer.Typer(help="Offline jobs held for review.", no_args_is_help=True)

AS_JSON = typer.Option(False, "--json", help="Print JSON.")
REASON = typer.Option(..., "--reason", help="Why (recorded in the audit log).")


def _line(view: ReviewView) -> str:
    scores = []
    for check in view.evidence.get("checks", []):
        if check["action"] == "allow":
            continue
        score = "" if check["score"] is None else f" {check['score']:.2f}"
        categories = ",".join(check["categories"]) or "-"
        scores.append(
            f"{check['input']}: {check['action']} {categories} ({check['layer'] or '-'}{score})"
        )
    return (
        f"{view.id}  {view.status.value:<8} age={view.age_s / 3600:.1f}h  job={view.job_id}"
        f"  owner={view.owner}  {'; '.join(scores) or '; '.join(view.reasons)}"
    )


@app.command("list")
def list_reviews(
    status: ReviewStatus | None = typer.Option(ReviewStatus.PENDING, help="Only this status."),
    as_json: bool = AS_JSON,
) -> None:
    """Held jobs, oldest first (pending unless asked): the review queue."""
    with runtime() as rt:
        views = ReviewService(JobService(build_gate_services(rt))).queue(status)
    if as_json:
        emit_json([dataclasses.asdict(view) for view in views])
        return
    if not views:
        typer.echo("no held jobs")
    for view in views:
        typer.echo(_line(view))


@app.command()
def show(review_id: str) -> None:
    """One held job's evidence (instructions, transcripts, each check), as JSON."""
    with runtime() as rt:
        view = ReviewService(JobService(build_gate_services(rt))).detail(review_id)
    emit_json(dataclasses.asdict(view))


def _decide(review_id: str, reason: str, *, approve: bool) -> None:
    with runtime() as rt:
        jobs = JobService(build_gate_services(rt))
        try:
            outcome = ReviewService(jobs).decide(
                operator(), review_id, approve=approve, reason=reason
            )
            job = outcome.job
            # This command's own worker renders it (one machine): wait, or it would be cut off.
            while approve and jobs.queue.holder is None and job.status not in FINISHED:
                time.sleep(0.25)
                job = jobs.get_any(job.id)
        finally:
            jobs.close()
    detail = f": {job.error}" if job.error else ""
    decided = outcome.review.status.value
    typer.echo(f"{review_id}: {decided}; job {job.id} {job.status.value}{detail}")


@app.command()
def approve(review_id: str, reason: str = REASON) -> None:
    """Approve a held job: the gate checks access and consent again, then it renders."""
    _decide(review_id, reason, approve=True)


@app.command()
def deny(review_id: str, reason: str = REASON) -> None:
    """Deny a held job: it fails and its quota is refunded."""
    _decide(review_id, reason, approve=False)
