"""``/v1/generations``: offline jobs through the gate.

Who may call: ``POST`` needs ``generate:offline`` (an approved researcher, for an identity of
their own whose subject consented to offline use); a job, its progress and its video are seen by
its owner and by reviewers (``review``), nobody else; ``GET`` lists the caller's jobs (reviewers:
everybody's). A job the policy sent to review answers 202 with status ``awaiting_review`` and
the reason in ``review``; reviewers decide it under ``/v1/review/generations``.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ..access.guards import get_principal, require_scope
from ..access.principals import Principal
from ..access.scopes import Scope
from ..api.bodies import bounded
from ..errors import InvalidRequest
from ..gate.services import gate_services
from ..listing import MAX_PAGE
from .audio_checks import AudioCheckPool
from .ledger import FINISHED, JobStatus, JobView, list_jobs
from .service import JobService

router = APIRouter(prefix="/v1/generations", tags=["generations"])

MAX_UPLOAD_BYTES = 50 * 2**20
MAX_REFERENCES = 8
# The whole multipart body, enforced while it streams (``api.bodies``): the speech, the
# listening audio, the references and the fields together.
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 16 * 2**20
Caller = Annotated[Principal, Depends(get_principal)]


def jobs_of(app: FastAPI) -> JobService:
    """The app's job service, made at the first request that needs it (or at startup)."""
    jobs: JobService | None = getattr(app.state, "jobs", None)
    if jobs is None:
        services = gate_services(app)
        settings = services.runtime.settings
        checks = AudioCheckPool(services.policy, settings.audio_check_workers)
        jobs = JobService(services, audio_checks=checks)
        app.state.jobs = jobs
    return jobs


def job_service(request: Request) -> JobService:
    return jobs_of(request.app)


Jobs = Annotated[JobService, Depends(job_service)]


def _view(view: JobView) -> dict[str, Any]:
    return {
        "id": view.id,
        "identity_id": view.identity_id,
        "status": view.status.value,
        "progress": view.progress,
        "audit_index": view.audit_index,
        "seconds": view.seconds,
        "error": view.error,
        "owner": view.owner,
        "created_at": view.created_at,
        "finished_at": view.finished_at,
        # Awaiting review (or once held): why the policy sent it to a reviewer.
        "review": view.review,
    }


async def _save(upload: UploadFile, directory: Path, name: str) -> Path:
    suffix = Path(upload.filename or "").suffix.lower()[:8] or ".bin"
    path = directory / f"{name}{suffix}"
    size = 0
    with path.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise InvalidRequest(f"{name} is larger than {MAX_UPLOAD_BYTES} bytes")
            out.write(chunk)
    return path


@router.post(
    "",
    status_code=202,
    summary="Queue an offline generation (multipart: identity_id, audio, listen_audio, "
    "references, instructions; scope generate:offline)",
)
async def submit(
    request: Request,
    jobs: Jobs,
    principal: Annotated[Principal, Depends(require_scope(Scope.GENERATE_OFFLINE))],
) -> dict[str, Any]:
    # Bounded while it streams: the parser spools file parts to disk as they arrive.
    request = bounded(request, MAX_BODY_BYTES)
    form = await request.form(max_files=MAX_REFERENCES + 2, max_fields=8)
    identity = form.get("identity_id")
    audio = form.get("audio")
    if not isinstance(identity, str) or not isinstance(audio, UploadFile):
        raise InvalidRequest("send identity_id and an audio file (multipart)")
    listen = form.get("listen_audio")
    instructions = form.get("instructions")
    with tempfile.TemporaryDirectory(prefix="upload-", dir=jobs.runtime.settings.data_dir) as tmp:
        folder = Path(tmp)
        audio_path = await _save(audio, folder, "speech")
        listen_path = (
            await _save(listen, folder, "listen") if isinstance(listen, UploadFile) else None
        )
        references = []
        for n, item in enumerate(form.getlist("references")):
            if isinstance(item, UploadFile):
                saved = await _save(item, folder, f"reference{n}")
                # In a worker process, one at a time, each kept at the working size only.
                references.append(await run_in_threadpool(jobs.reference, saved))
        view = await run_in_threadpool(
            jobs.submit,
            principal,
            identity,
            audio_path,
            listen_audio=listen_path,
            references=references,
            instructions=instructions if isinstance(instructions, str) else None,
        )
    return _view(view)


@router.get(
    "",
    summary="Offline jobs, newest first: the caller's own; reviewers see everybody's "
    "(filters owner, status; pages: limit, before=<last id>)",
)
def list_generations(
    jobs: Jobs,
    principal: Caller,
    owner: Annotated[str | None, Query(max_length=256)] = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    before: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    views = list_jobs(
        jobs.runtime, principal, owner=owner, status=status, limit=limit, before=before
    )
    return [_view(view) for view in views]


@router.get("/{job_id}", summary="A job's status and progress (its owner, or reviewers)")
def status(job_id: str, jobs: Jobs, principal: Caller) -> dict[str, Any]:
    return _view(jobs.get(principal, job_id, reviewer=Scope.REVIEW in principal.scopes))


@router.get(
    "/{job_id}/events",
    summary="Progress as Server-Sent Events until the job ends (its owner, or reviewers)",
)
async def events(job_id: str, jobs: Jobs, principal: Caller) -> StreamingResponse:
    reviewer = Scope.REVIEW in principal.scopes
    jobs.get(principal, job_id, reviewer=reviewer)  # 404 before the stream starts

    async def stream() -> AsyncIterator[str]:
        last = None
        while True:
            view = await run_in_threadpool(jobs.get, principal, job_id, reviewer=reviewer)
            body = _view(view)
            if body != last:
                yield f"event: progress\ndata: {json.dumps(body)}\n\n"
                last = body
            if view.status in FINISHED:
                yield f"event: {view.status.value}\ndata: {json.dumps(body)}\n\n"
                return
            await asyncio.sleep(0.25)

    return StreamingResponse(stream(), media_type="text/event-stream")


@router.get(
    "/{job_id}/video",
    summary="The signed, watermarked MP4 (its owner, or reviewers)",
    response_class=FileResponse,
)
def video(job_id: str, jobs: Jobs, principal: Caller) -> FileResponse:
    path = jobs.video(principal, job_id, reviewer=Scope.REVIEW in principal.scopes)
    return FileResponse(path, media_type="video/mp4", filename=path.name)
