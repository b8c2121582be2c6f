"""Offline jobs on the books: one row per job the gate admitted, what a worker is given, and
the row's moves that end a job early.

An offline generation is an audio file in, a watermarked, C2PA-signed MP4 out, rendered by a
worker process (``worker``) from the job queue (``queueing``: the server's own worker
processes, or procrastinate's PostgreSQL queue that ``lpm-guard worker`` processes on any
machine take jobs from); ``service.JobService`` admits and queues it. The worker renders with
the watermark of the gate's allow entry in every frame, signs the MP4 (temporary file, sign,
atomic rename: an unsigned file never sits where the signed one goes) and records the outcome.
A job that a crash or restart interrupted is failed (``fail``, ``recover``: refunded, its
leftovers removed) by the lease rules (``lpm_guard.leases``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Float, Integer, String, Text, cast, column, or_, table, update
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from ..access.models import UtcDateTime
from ..access.principals import Principal
from ..access.quotas import QuotaService
from ..audit import Receipt
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..consent.faces import RGB
from ..listing import isoformat, newest_first, whose
from ..runtime import Runtime


class JobStatus(StrEnum):
    AWAITING_REVIEW = "awaiting_review"  # the policy said "review": a reviewer decides (reviews)
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
    # The lease: the node (process) that queued the job and when it last said it holds it.
    node_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    heartbeat_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )
    # Why the job waits for (or waited for) a reviewer: what its owner is told.
    review: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


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
    review: str | None = None

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
            row.review,
        )


@dataclass(frozen=True)
class JobSpec:
    """Everything the worker needs, picklable: the identity's photo travels in memory only."""

    job_id: str
    owner: str
    actor: str
    data_dir: str
    database_url: str
    photo: RGB | None  # None: the worker reads it from the consent store (procrastinate)
    audio: str
    listen_audio: str | None
    instructions: str | None
    receipt: Receipt  # of the gate's allow entry: the watermark carries its index
    policy_version: str
    consent_entry: int | None
    fps: int
    node_id: str  # whose lease the job runs under: the worker finishes it only while it holds
    quota_day: str
    reserved_s: float  # of quota, refunded if the job fails
    keys_dir: str
    identity_id: str | None = None
    media_dir: str | None = None  # default: data_dir
    landmarks: list[list[float]] | None = None  # a drawn face's, travelling with its photo

    def to_args(self) -> dict[str, Any]:
        """The job as procrastinate's JSON arguments: no photo (biometric data stays sealed in
        the consent store), no paths of this machine (the voice by its name in the job's
        directory under the shared media directory)."""
        return {
            "job_id": self.job_id,
            "owner": self.owner,
            "actor": self.actor,
            "identity_id": self.identity_id,
            "audio": Path(self.audio).name,
            "listen_audio": Path(self.listen_audio).name if self.listen_audio else None,
            "instructions": self.instructions,
            "receipt": self.receipt.to_json(),
            "policy_version": self.policy_version,
            "consent_entry": self.consent_entry,
            "fps": self.fps,
            "node_id": self.node_id,
            "quota_day": self.quota_day,
            "reserved_s": self.reserved_s,
        }

    @classmethod
    def from_args(cls, args: dict[str, Any], runtime: Runtime) -> JobSpec:
        """The job as this machine's worker runs it: its own paths and keys."""
        settings = runtime.settings
        directory = job_directory(runtime, str(args["job_id"]))
        listen = args.get("listen_audio")
        return cls(
            str(args["job_id"]),
            str(args["owner"]),
            str(args["actor"]),
            str(settings.data_dir),
            settings.resolved_database_url,
            None,
            str(directory / Path(str(args["audio"])).name),
            str(directory / Path(str(listen)).name) if listen else None,
            args.get("instructions"),
            Receipt.from_json(args["receipt"]),
            str(args["policy_version"]),
            args.get("consent_entry"),
            int(args["fps"]),
            str(args["node_id"]),
            str(args["quota_day"]),
            float(args["reserved_s"]),
            str(settings.keys_dir),
            args.get("identity_id"),
            str(settings.media_dir),
        )


TRANSCRIPT = "transcript.json"  # in the job's directory, beside the voice


def write_transcript(directory: Path, spoken: Sequence[tuple[float, float, str]]) -> None:
    """The agent voice's transcript (start s, end s, words), for the worker that renders it."""
    path = directory / TRANSCRIPT
    path.write_text(json.dumps([[float(a), float(b), str(t)] for a, b, t in spoken]))
    path.chmod(0o600)


def read_transcript(directory: Path) -> list[tuple[float, float, str]]:
    """The transcript a job was queued with; empty when there is none (or it is unreadable:
    the mouth then follows the audio alone)."""
    try:
        rows = json.loads((directory / TRANSCRIPT).read_text())
        return [(float(a), float(b), str(t)) for a, b, t in rows]
    except (OSError, ValueError, TypeError):
        return []


def job_directory(runtime: Runtime, job_id: str) -> Path:
    """Where a job's voice and video live: under the media directory every node shares."""
    return runtime.settings.media_dir / "jobs" / job_id


def output_path(runtime: Runtime, job_id: str) -> Path:
    return job_directory(runtime, job_id) / f"{job_id}.mp4"


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


UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)
# Jobs ``fail`` may end: unfinished ones and those waiting for a reviewer (a denial refunds them).
# A job awaiting review is under no node's lease: lease recovery never touches it.
FAILABLE = (JobStatus.AWAITING_REVIEW, *UNFINISHED)
# The holder of a job waiting in procrastinate's queue: no node's lease, procrastinate's
# (``held_by_queue``; its lease lapses, and it is recovered once the queue lost it).
QUEUE_HOLDER = "queue:procrastinate"


def fail(
    runtime: Runtime,
    job_id: str,
    actor: str,
    reason: str,
    *,
    error: str | None = None,
    held_by: str | None = None,
    lapsed_before: datetime | None = None,
    own: bool = True,
) -> bool:
    """Mark an unfinished job failed, refund its reserved quota, remove what it left (the
    unsigned file, the uploaded voice) and audit it, exactly once: only if it is still awaiting
    review, queued or running (and still ``held_by`` that node, or its lease lapsed before
    ``lapsed_before``). Returns whether this call failed it (a finished or re-leased job is
    left alone)."""
    condition = [col(GenerationJob.id) == job_id, col(GenerationJob.status).in_(FAILABLE)]
    if held_by is not None:
        condition.append(col(GenerationJob.node_id) == held_by)
    if lapsed_before is not None:
        condition.append(_lapsed(runtime.node_id if own else None, lapsed_before))
    with Session(runtime.engine, expire_on_commit=False) as session:
        row = session.get(GenerationJob, job_id)
        result = session.execute(
            update(GenerationJob)
            .where(*condition)
            .values(
                status=JobStatus.FAILED,
                error=(error or reason)[:500],
                finished_at=datetime.now(UTC),
            )
        )
        session.commit()
    if row is None or getattr(result, "rowcount", 0) != 1:
        return False
    directory = job_directory(runtime, job_id)
    for pattern in (".*", "speech.*", "listen.*", TRANSCRIPT):
        for leftover in directory.glob(pattern):
            leftover.unlink(missing_ok=True)
    audit = AuditService(runtime.audit)
    day = row.created_at.date().isoformat()
    QuotaService(runtime.engine, audit).refund(
        row.owner, row.seconds, day, reason=f"job {job_id} failed"
    )
    audit.record(
        AuditTag.GENERATION_JOB_FAIL,
        actor,
        outcome="failure",
        objects={"job": job_id},
        reasons=[reason],
    )
    return True


def _lapsed(node_id: str | None, before: datetime) -> Any:
    """Work this node may recover: its own (a restart under the same node id), work from
    before leases (no node), or work whose lease was last renewed before ``before``. (A job
    of procrastinate's queue is also the queue's while it holds it: ``held_by_queue``.)"""
    return or_(
        col(GenerationJob.node_id) == node_id,
        col(GenerationJob.node_id).is_(None),
        col(GenerationJob.heartbeat_at).is_(None),
        col(GenerationJob.heartbeat_at) < before,
    )


# procrastinate's own table, read (never written) to learn whether it still holds a job: its
# jobs carry ours as their lock (``queueing.ProcrastinateQueue.put``).
_PROCRASTINATE_JOBS = table("procrastinate_jobs", column("lock"), column("status"))


def held_by_queue(runtime: Runtime, job_ids: list[str]) -> set[str]:
    """Those of ``job_ids`` that procrastinate's queue still holds: waiting for a worker
    (``todo``) or taken by one (``doing``; if that worker died, procrastinate's stalled-job
    recovery gives the job to another, which renders it again). A job the queue no longer
    holds (deleted, or failed after its retries) is lost: only the lease rules end it."""
    if not job_ids or not runtime.settings.uses_procrastinate:
        return set()
    jobs = _PROCRASTINATE_JOBS
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            sa_select(jobs.c.lock).where(
                jobs.c.lock.in_(job_ids),
                # its own enum type: compared as text
                cast(jobs.c.status, String).in_(("todo", "doing")),
            )
        )
        return {str(lock) for (lock,) in rows}


def recover(runtime: Runtime, lease_s: float | None = None, *, own: bool = True) -> int:
    """Fail the jobs a crash or restart interrupted: this node's own, and other nodes' whose
    lease lapsed (never a live neighbour's), but none that procrastinate's queue still holds
    (its stalled-job recovery retries them); returns how many. Run at start-up and then
    periodically (``leases.NodeLease``)."""
    lease = runtime.settings.node_lease_s if lease_s is None else lease_s
    before = datetime.now(UTC) - timedelta(seconds=lease)
    mine = runtime.node_id if own else None  # own: at start-up only, never while running it
    with Session(runtime.engine) as session:
        candidates = list(
            session.exec(
                select(GenerationJob.id).where(
                    col(GenerationJob.status).in_(UNFINISHED), _lapsed(mine, before)
                )
            ).all()
        )
    held = held_by_queue(runtime, candidates)
    return sum(
        fail(
            runtime,
            job_id,
            "system",
            "interrupted by a restart (its node stopped)",
            lapsed_before=before,
            own=own,
        )
        for job_id in candidates
        if job_id not in held
    )


class JobLeases:
    """Offline jobs under a node's lease (``lpm_guard.leases``): renewed while this node runs
    them, failed and refunded once lapsed."""

    kind = "jobs"

    def __init__(self, running: Callable[[], Collection[str]] | None = None) -> None:
        # The ids of the jobs this node's queue still runs (None: every unfinished job of
        # this node, for a process that runs none itself).
        self.running = running

    def renew(self, runtime: Runtime, now: datetime) -> None:
        mine = [
            col(GenerationJob.node_id) == runtime.node_id,
            col(GenerationJob.status).in_(UNFINISHED),
        ]
        if self.running is not None:
            # Only the jobs it still runs: one whose failure could not be written (SQLite's
            # "database is locked", an outage) lapses, and the lease rules fail and refund
            # it, rather than keep its quota reserved for as long as this node lives.
            mine.append(col(GenerationJob.id).in_(list(self.running())))
        with Session(runtime.engine) as db:
            db.execute(update(GenerationJob).where(*mine).values(heartbeat_at=now))
            db.commit()

    def recover(self, runtime: Runtime, *, own: bool) -> int:
        return recover(runtime, own=own)


JOB_LEASES = JobLeases()
