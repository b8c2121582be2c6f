"""What a worker process does with one job: render, watermark, sign, publish, account.

Runs in a process of its own (spawned: nothing of the server's state is shared), so it opens
the runtime itself: the database for progress and the audit log, the keys for the watermark and
the signature. It moves the job on only while the job is still under its node's lease (each
step is a compare-and-set on the row): a job that a neighbour recovered after the lease lapsed
is neither started nor published, so one job never ends both failed and complete.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col

from .. import __version__
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..generator import Character, render
from ..provenance.models import ProvenanceRecord
from ..provenance.services import ProvenanceService
from ..provenance.watermark import Watermarker
from ..runtime import Runtime
from ..settings import Settings
from .jobs import GenerationJob, JobSpec, JobStatus, fail, output_path

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


def _progress(runtime: Runtime, job_id: str, done: int, total: int) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(
            update(GenerationJob)
            .where(col(GenerationJob.id) == job_id)
            .values(frames_done=done, frames_total=total)
        )


class LeaseLost(Exception):
    """The job's lease lapsed and another node recovered it: this worker lets it go."""


def run_job(spec: JobSpec) -> None:
    settings = Settings(
        data_dir=Path(spec.data_dir), database_url=spec.database_url, keys_dir=Path(spec.keys_dir)
    )
    runtime = Runtime.open(settings, initialise=False)
    audit = AuditService(runtime.audit)
    final = output_path(runtime, spec.job_id)
    unsigned = final.with_name(f".{spec.job_id}.unsigned.mp4")
    try:
        if not _move(spec, runtime, JobStatus.RUNNING):
            raise LeaseLost(spec.job_id)
        character = Character.from_photo(spec.photo)
        width, height = character.size
        marker = Watermarker(
            runtime.keys.watermark_key().secret, spec.receipt.index, width=width, height=height
        )
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S or done == total:
                last[0] = now
                _progress(runtime, spec.job_id, done, total)

        instructions = [(0.0, spec.instructions)] if spec.instructions else []
        frames = render(
            character,
            spec.audio,
            unsigned,
            listen_audio=spec.listen_audio,
            instructions=instructions,
            fps=spec.fps,
            progress=progress,
            frame_filter=marker.mark,
        )
        # Signed into place: the temporary file is renamed only once signed.
        checkpoint = audit.checkpoint(force=True)
        consent_leaf = (
            runtime.audit.entry(spec.consent_entry).leaf_hash
            if spec.consent_entry is not None
            else b"\0" * 32
        )
        record = ProvenanceRecord(
            session_id=spec.job_id,
            receipt=spec.receipt,
            checkpoint_note=checkpoint.note,
            policy_version=spec.policy_version,
            consent_sha256=consent_leaf.hex(),
            generator_version=__version__,
            watermark_reference=spec.receipt.index,
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
    except Exception as exc:
        final.unlink(missing_ok=True)
        fail(
            runtime,
            spec.job_id,
            spec.actor,
            type(exc).__name__,
            error=f"{type(exc).__name__}: {exc}",
            held_by=spec.node_id,
        )
        raise
    finally:
        unsigned.unlink(missing_ok=True)
        for leftover in Path(spec.audio).parent.glob("speech.*"):
            leftover.unlink(missing_ok=True)  # the uploaded voice is not kept after rendering
        runtime.close()
