"""What a worker process does with one job: render, watermark, sign, publish, account.

Runs in a process of its own (a server's spawned worker, or ``lpm-guard worker`` on any
machine), so it opens the runtime itself, or uses its worker's: the database for progress and
the audit log, the keys for the watermark and the signature, the consent store for the photo
(procrastinate's jobs carry no biometric data). It moves the job on only while the job is
still under its node's lease (each
step is a compare-and-set on the row): a job that a neighbour recovered after the lease lapsed
is neither started nor published, so one job never ends both failed and complete.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import col

from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..consent.faces import RGB
from ..consent.services import ConsentService
from ..errors import NotFound
from ..performers import PerformerFailed, portrait_of
from ..performers.backends import backend_for
from ..performers.offline import render
from ..provenance.services import ProvenanceService, generation_record
from ..provenance.watermark import Watermarker
from ..runtime import Runtime
from ..settings import Settings
from .ledger import (
    TRANSCRIPT,
    GenerationJob,
    JobSpec,
    JobStatus,
    fail,
    output_path,
    read_transcript,
)

DATABASE_AWAY = (OperationalError, InterfaceError)

PROGRESS_EVERY_S = 0.5


def _move(spec: JobSpec, runtime: Runtime, status: JobStatus, **values: object) -> bool:
    """Set the job's ``status`` (and ``values``) if its node still holds it, running or about
    to; returns whether it did."""
    before = JobStatus.QUEUED if status is JobStatus.RUNNING else JobStatus.RUNNING
    with runtime.engine.begin() as conn:
        result = conn.execute(
            update(GenerationJob)
            .where(
                col(GenerationJob.id) == spec.job_id,
                col(GenerationJob.node_id) == spec.node_id,
                col(GenerationJob.status) == before,
            )
            .values(status=status, **values)
        )
    return getattr(result, "rowcount", 0) == 1


def _claim(spec: JobSpec, runtime: Runtime, node: str) -> bool:
    """Take the job under ``node``'s lease (a procrastinate worker): if it still waits in the
    queue, or its last worker's lease lapsed (a retry after that worker died)."""
    now = datetime.now(UTC)
    lapsed = now - timedelta(seconds=runtime.settings.node_lease_s)
    with runtime.engine.begin() as conn:
        result = conn.execute(
            update(GenerationJob)
            .where(
                col(GenerationJob.id) == spec.job_id,
                or_(
                    and_(
                        col(GenerationJob.status) == JobStatus.QUEUED,
                        col(GenerationJob.node_id) == spec.node_id,
                    ),
                    and_(
                        col(GenerationJob.status) == JobStatus.RUNNING,
                        or_(
                            col(GenerationJob.node_id) == node,
                            col(GenerationJob.heartbeat_at) < lapsed,
                        ),
                    ),
                ),
            )
            .values(status=JobStatus.RUNNING, node_id=node, heartbeat_at=now, frames_done=0)
        )
    return getattr(result, "rowcount", 0) == 1


def _release(spec: JobSpec, runtime: Runtime, node: str) -> None:
    """Give a claimed job back to the queue (a retry will claim it), if the database lets us;
    if not, its lease lapses and the retry claims it then."""
    try:
        with runtime.engine.begin() as conn:
            conn.execute(
                update(GenerationJob)
                .where(
                    col(GenerationJob.id) == spec.job_id,
                    col(GenerationJob.node_id) == node,
                    col(GenerationJob.status) == JobStatus.RUNNING,
                )
                .values(status=JobStatus.QUEUED, node_id=spec.node_id, frames_done=0)
            )
    except DATABASE_AWAY:
        pass


def _photo(spec: JobSpec, runtime: Runtime) -> tuple[RGB, list[list[float]] | None]:
    """The photo to animate and a drawn face's explicit landmarks: the spec's, or the
    identity's first enrolled photo, read now (a consent revoked meanwhile deleted it: the job
    fails)."""
    if spec.photo is not None:
        return spec.photo, spec.landmarks
    if spec.identity_id is None:
        raise NotFound("the job names no identity")
    consent = ConsentService(runtime)
    photos = consent.enrolled_photos(spec.owner, spec.identity_id)
    if not photos:
        raise NotFound("the identity has no photo left to animate (consent revoked?)")
    return photos[0], consent.enrolled_landmarks(spec.owner, spec.identity_id)


def _progress(runtime: Runtime, job_id: str, done: int, total: int) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(
            update(GenerationJob)
            .where(col(GenerationJob.id) == job_id)
            .values(frames_done=done, frames_total=total)
        )


class LeaseLost(Exception):
    """The job's lease lapsed and another node recovered it: this worker lets it go."""


def run_job(spec: JobSpec, runtime: Runtime | None = None, claim_as: str | None = None) -> None:
    """Render one job. ``runtime``: the worker's (default: opened from the spec's settings,
    closed at the end); ``claim_as``: take the job from the queue under this node's lease
    (procrastinate), and give it back on a database outage so that a retry renders it."""
    own = runtime is None
    if runtime is None:
        settings = Settings(
            data_dir=Path(spec.data_dir),
            database_url=spec.database_url,
            keys_dir=Path(spec.keys_dir),
            media_dir=Path(spec.media_dir) if spec.media_dir else None,
        )
        runtime = Runtime.open(settings, initialise=False)
    queued = spec
    if claim_as is not None:  # from here on the job is under the worker's lease
        spec = dataclasses.replace(spec, node_id=claim_as)
    audit = AuditService(runtime.audit)
    final = output_path(runtime, spec.job_id)
    unsigned = final.with_name(f".{spec.job_id}.unsigned.mp4")
    keep_voice = False
    try:
        if claim_as is not None:
            claimed = _claim(queued, runtime, claim_as)
        else:
            claimed = _move(spec, runtime, JobStatus.RUNNING)
        if not claimed:
            raise LeaseLost(spec.job_id)
        # A run of this job that died (its worker killed; this is procrastinate's retry) left
        # its temporary files: the job is this run's now, and nothing unsigned outlives it.
        for leftover in final.parent.glob(".*"):
            leftover.unlink(missing_ok=True)
        # The performer (the CPU generator here, or a remote worker) gets the photo; the
        # watermark, the signature and the audit stay here, on every frame it sends back.
        photo, landmarks = _photo(spec, runtime)
        portrait = portrait_of(photo, landmarks=landmarks)
        width, height = portrait.size
        marker = Watermarker(
            runtime.keys.watermark_key().secret, spec.receipt.index, width=width, height=height
        )
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S or done == total:
                last[0] = now
                _progress(runtime, spec.job_id, done, total)

        frames = render(
            backend_for(runtime.settings),
            portrait,
            spec.audio,
            unsigned,
            listen_audio=spec.listen_audio,
            instructions=spec.instructions,
            fps=spec.fps,
            progress=progress,
            frame_filter=marker.mark,
            transcript=read_transcript(Path(spec.audio).parent),
        )
        # Signed into place: the temporary file is renamed only once signed.
        record = generation_record(
            audit, spec.job_id, spec.receipt, spec.policy_version, spec.consent_entry
        )
        ProvenanceService.from_runtime(runtime).sign_mp4(unsigned, final, record)
        # The quota was reserved at admission; the video is published only if the job is
        # still this node's (else a neighbour already failed it and refunded the seconds).
        done = _move(
            spec,
            runtime,
            JobStatus.SUCCEEDED,
            frames_done=frames,
            frames_total=frames,
            finished_at=datetime.now(UTC),
        )
        if not done:
            raise LeaseLost(spec.job_id)
        audit.record(
            AuditTag.GENERATION_JOB_COMPLETE,
            spec.actor,
            objects={"job": spec.job_id},
            payload={
                "frames": frames,
                "seconds": round(frames / spec.fps, 3),
                "reserved_s": spec.reserved_s,
                "reference": spec.receipt.index,
            },
        )
    except LeaseLost:
        final.unlink(missing_ok=True)
    except DATABASE_AWAY:
        final.unlink(missing_ok=True)
        if claim_as is None:
            raise
        # procrastinate retries it: the job goes back to the queue, its voice stays.
        keep_voice = True
        _release(queued, runtime, claim_as)
        raise
    except Exception as exc:
        final.unlink(missing_ok=True)
        fail(
            runtime,
            spec.job_id,
            spec.actor,
            exc.breach.value if isinstance(exc, PerformerFailed) else type(exc).__name__,
            error=f"{type(exc).__name__}: {exc}",
            held_by=spec.node_id,
        )
        raise
    finally:
        unsigned.unlink(missing_ok=True)
        if not keep_voice:
            for pattern in ("speech.*", "listen.*", TRANSCRIPT):
                for leftover in Path(spec.audio).parent.glob(pattern):
                    leftover.unlink(missing_ok=True)  # the voice is not kept after rendering
        if own:
            runtime.close()
