"""``lpm-guard generate``: an offline generation through the gate, as a named account.

The same ``JobService`` as ``POST /v1/generations``: the gate decides and audits, a worker
process renders, watermarks and signs; the command waits with a progress bar and copies the
signed MP4 to ``--out`` (written beside it and renamed: never half a file).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from sqlmodel import Session, select

from ..access.accounts import normalise_email
from ..access.ids import utcnow
from ..access.models import AccountRow
from ..access.principals import Principal
from ..access.scopes import Role, Scope
from ..access.standing import standing_of
from ..consent.faces import decode_image
from ..gate.gate import GenerationDenied
from ..gate.services import build_gate_services
from ..jobs.ledger import FINISHED, JobStatus, output_path
from ..jobs.service import JobService
from .common import fail, runtime


def generate(
    identity: Annotated[str, typer.Option(help="The identity to animate (one of the account's)")],
    audio: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="What it says")],
    out: Annotated[Path, typer.Option(help="Where the signed MP4 goes")],
    account: Annotated[str, typer.Option("--as", help="The researcher's e-mail")],
    listen_audio: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="What it listens to")
    ] = None,
    reference: Annotated[
        list[Path] | None, typer.Option(exists=True, dir_okay=False, help="Reference photos")
    ] = None,
    instruction: Annotated[str | None, typer.Option(help="Behaviour in words")] = None,
) -> None:
    """Render AUDIO spoken by IDENTITY into a watermarked, C2PA-signed MP4, through the gate."""
    with runtime() as rt:
        with Session(rt.engine) as db:
            row = db.exec(select(AccountRow).where(AccountRow.email == normalise_email(account)))
            found = row.first()
            standing = standing_of(db, found.id, utcnow()) if found is not None else None
        if found is None or standing is None or standing.locked:
            raise fail(f"{account}: no such account in good standing", 3)
        if Scope.GENERATE_OFFLINE not in standing.scopes:
            raise fail(f"{account} may not generate offline ({standing.reason})", 3)
        principal = Principal(found.id, standing.scopes, Role(found.role))
        jobs = JobService(build_gate_services(rt))
        try:
            with tempfile.TemporaryDirectory(dir=rt.settings.data_dir) as tmp:
                # The job takes its audio over: it gets copies.
                speech = Path(shutil.copy(audio, Path(tmp) / f"speech{audio.suffix}"))
                listen = (
                    Path(shutil.copy(listen_audio, Path(tmp) / f"listen{listen_audio.suffix}"))
                    if listen_audio
                    else None
                )
                references = [decode_image(p.read_bytes()) for p in reference or []]
                try:
                    job = jobs.submit(
                        principal,
                        identity,
                        speech,
                        listen_audio=listen,
                        references=references,
                        instructions=instruction,
                    )
                except GenerationDenied as exc:
                    reasons = exc.extensions.get("reasons") or [exc.detail]
                    raise fail("the gate refused: " + "; ".join(map(str, reasons)), 3) from None
            if job.status is JobStatus.AWAITING_REVIEW:
                raise fail(
                    f"held for review (job {job.id}): {job.review}; a reviewer decides "
                    "(lpm-guard admin review list)",
                    4,
                )
            with Progress(transient=True) as bar:
                task = bar.add_task(f"rendering {out.name}", total=1.0)
                while True:
                    view = jobs.get(principal, job.id)
                    bar.update(task, completed=view.progress)
                    if view.status in FINISHED:
                        break
                    time.sleep(0.25)
            if view.status is not JobStatus.SUCCEEDED:
                raise fail(f"the job failed: {view.error}")
            partial = out.with_name(f".{out.name}.partial")
            shutil.copyfile(output_path(rt, job.id), partial)
            os.replace(partial, out)
        finally:
            jobs.close()
    typer.echo(f"{out}: signed and watermarked (job {job.id}, audit entry {job.audit_index})")
