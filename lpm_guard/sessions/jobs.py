"""Offline generation: an audio file in, a watermarked, C2PA-signed MP4 out, in a worker process.

``JobService.submit`` runs the gate (access, consent, policy over the instructions, the audio's
transcript and the reference images) in the caller's thread, then hands the rendering to a
worker process: requests never render. The worker renders with the watermark of the gate's
allow entry in every frame, signs the MP4 (temporary file, sign, atomic rename: an unsigned file
never sits where the signed one goes), charges the quota and records the outcome. A job that a
crash or restart interrupted is marked failed at the next start, and its leftovers are removed.
"""

from __future__ import annotations

import multiprocessing
import secrets
import shutil
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Column, Float, Integer, String, Text, update
from sqlmodel import Field, Session, SQLModel, col, select

from ..access.models import UtcDateTime
from ..access.principals import Principal
from ..audit import Receipt
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..consent.faces import RGB
from ..consent.models import Use
from ..errors import NotFound
from ..policy import InputRejected
from ..policy import Use as PolicyUse
from ..runtime import Runtime
from .gate import GenerationDenied
from .ledger import isoformat, newest_first, whose
from .services import SessionServices


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


class GenerationJob(SQLModel, table=True):
    __tablename__ = "generation_jobs"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    owner: str = Field(sa_column=Column(String(256), nullable=False, index=True))
    identity_id: str = Field(sa_column=Column(String(40), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    frames_done: int = Field(sa_column=Column(Integer, nullable=False))
    frames_total: int = Field(sa_column=Column(Integer, nullable=False))
    audit_index: int = Field(sa_column=Column(Integer, nullable=False))
    seconds: float = Field(sa_column=Column(Float, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )


@dataclass(frozen=True)
class JobView:
    id: str
    identity_id: str
    status: JobStatus
    progress: float
    audit_index: int
    seconds: float
    error: str | None
    owner: str
    created_at: str | None
    finished_at: str | None

    @classmethod
    def of(cls, row: GenerationJob) -> JobView:
        total = max(1, row.frames_total)
        return cls(
            row.id,
            row.identity_id,
            JobStatus(row.status),
            round(min(1.0, row.frames_done / total), 4),
            row.audit_index,
            row.seconds,
            row.error,
            row.owner,
            isoformat(row.created_at),
            isoformat(row.finished_at),
        )


@dataclass(frozen=True)
class JobSpec:
    """Everything the worker needs, picklable: the identity's photo travels in memory only."""

    job_id: str
    owner: str
    actor: str
    data_dir: str
    database_url: str
    photo: RGB
    audio: str
    listen_audio: str | None
    instructions: str | None
    receipt: Receipt  # of the gate's allow entry: the watermark carries its index
    policy_version: str
    consent_entry: int | None
    fps: int


def job_directory(runtime: Runtime, job_id: str) -> Path:
    return runtime.settings.data_dir / "jobs" / job_id


def output_path(runtime: Runtime, job_id: str) -> Path:
    return job_directory(runtime, job_id) / f"{job_id}.mp4"


class JobService:
    def __init__(self, services: SessionServices, workers: int = 1) -> None:
        self.services = services
        self.runtime = services.runtime
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self.futures: dict[str, Future[None]] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # (1): submit — the gate, then the queue.
    def submit(
        self,
        principal: Principal,
        identity_id: str,
        audio: Path,
        *,
        listen_audio: Path | None = None,
        references: Sequence[RGB] = (),
        instructions: str | None = None,
        fps: int = 25,
    ) -> JobView:
        """Gate the request and queue it; ``audio`` (and ``listen_audio``) are files this call
        takes over (they move into the job's directory)."""
        policy = self.services.policy
        spoken = []
        for path in [audio, *([listen_audio] if listen_audio else [])]:
            try:
                spoken.append(policy.check_audio_file(path, PolicyUse.OFFLINE))
            except InputRejected as exc:
                raise GenerationDenied(f"audio refused: {exc}", reasons=[str(exc)]) from exc
        admission = self.services.gate.admit(
            principal,
            identity_id,
            Use.OFFLINE,
            instructions=instructions,
            references=references,
            checked=[a.decision for a in spoken],
        )
        seconds = max(a.duration_s for a in spoken)
        if self.services.quotas.check(principal.subject).remaining_s < seconds:
            raise GenerationDenied(
                "today's quota of generated seconds does not cover this audio",
                reasons=["quota"],
            )
        job_id = "job_" + secrets.token_urlsafe(12)
        directory = job_directory(self.runtime, job_id)
        directory.mkdir(parents=True, mode=0o700)
        moved_audio = directory / ("speech" + audio.suffix)
        shutil.move(audio, moved_audio)
        moved_listen = None
        if listen_audio is not None:
            moved_listen = directory / ("listen" + listen_audio.suffix)
            shutil.move(listen_audio, moved_listen)
        row = GenerationJob(
            id=job_id,
            owner=principal.subject,
            identity_id=identity_id,
            status=JobStatus.QUEUED,
            frames_done=0,
            frames_total=max(1, round(seconds * fps)),
            audit_index=admission.receipt.index,
            seconds=seconds,
            created_at=datetime.now(UTC),
        )
        with Session(self.runtime.engine) as session:
            session.add(row)
            session.commit()
            session.refresh(row)
        spec = JobSpec(
            job_id,
            principal.subject,
            principal.actor,
            str(self.runtime.settings.data_dir),
            self.runtime.settings.resolved_database_url,
            admission.photos[0],
            str(moved_audio),
            str(moved_listen) if moved_listen else None,
            instructions,
            admission.receipt,
            admission.policy_version,
            admission.consent_index,
            fps,
        )
        from .worker import run_job

        self.futures[job_id] = self._pool.submit(run_job, spec)
        return JobView.of(row)

    def get(self, principal: Principal, job_id: str, *, reviewer: bool = False) -> JobView:
        """A job of the caller's (reviewers see every job)."""
        with Session(self.runtime.engine) as session:
            row = session.get(GenerationJob, job_id)
        if row is None or (row.owner != principal.subject and not reviewer):
            raise NotFound("no such generation job")
        return JobView.of(row)

    def video(self, principal: Principal, job_id: str, *, reviewer: bool = False) -> Path:
        view = self.get(principal, job_id, reviewer=reviewer)
        path = output_path(self.runtime, job_id)
        if view.status is not JobStatus.SUCCEEDED or not path.exists():
            raise NotFound(f"the job's video is not ready (status {view.status})")
        return path


def list_jobs(
    runtime: Runtime,
    principal: Principal,
    *,
    owner: str | None = None,
    status: JobStatus | None = None,
    limit: int = 50,
    before: str | None = None,
) -> list[JobView]:
    """The caller's jobs (reviewers: everybody's, or ``owner``'s), newest first."""
    with Session(runtime.engine) as session:
        rows = newest_first(
            session,
            GenerationJob,
            col(GenerationJob.created_at),
            owner=whose(principal, owner),
            status=status.value if status is not None else None,
            limit=limit,
            before=before,
        )
    return [JobView.of(row) for row in rows]


def recover(runtime: Runtime) -> int:
    """Mark jobs a crash or restart interrupted as failed, and remove their unsigned leftovers;
    returns how many. Run at start-up, before any new job."""
    with Session(runtime.engine) as session:
        interrupted = list(
            session.exec(
                select(GenerationJob.id).where(
                    col(GenerationJob.status).in_([JobStatus.QUEUED, JobStatus.RUNNING])
                )
            ).all()
        )
        if interrupted:
            session.execute(
                update(GenerationJob)
                .where(col(GenerationJob.id).in_(interrupted))
                .values(
                    status=JobStatus.FAILED,
                    error="interrupted by a restart",
                    finished_at=datetime.now(UTC),
                )
            )
            session.commit()
    audit = AuditService(runtime.audit)
    for job_id in interrupted:
        for leftover in job_directory(runtime, job_id).glob(".*"):
            leftover.unlink(missing_ok=True)
        audit.record(
            AuditTag.GENERATION_JOB_FAIL,
            "system",
            outcome="failure",
            objects={"job": job_id},
            reasons=["interrupted by a restart"],
        )
    return len(interrupted)
