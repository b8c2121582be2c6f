"""What a worker process does with one job: render, watermark, sign, publish, account.

Runs in a process of its own (spawned: nothing of the server's state is shared), so it opens
the runtime itself: the database for progress and the audit log, the keys for the watermark and
the signature.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col

from .. import __version__
from ..access.quotas import QuotaService
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..generator import Character, render
from ..provenance.models import ProvenanceRecord
from ..provenance.services import ProvenanceService
from ..provenance.watermark import Watermarker
from ..runtime import Runtime
from ..settings import Settings
from .jobs import GenerationJob, JobSpec, JobStatus, output_path

PROGRESS_EVERY_S = 0.5


def _set(runtime: Runtime, job_id: str, **values: object) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(update(GenerationJob).where(col(GenerationJob.id) == job_id).values(**values))


def run_job(spec: JobSpec) -> None:
    settings = Settings(data_dir=Path(spec.data_dir), database_url=spec.database_url)
    runtime = Runtime.open(settings, initialise=False)
    audit = AuditService(runtime.audit)
    final = output_path(runtime, spec.job_id)
    unsigned = final.with_name(f".{spec.job_id}.unsigned.mp4")
    try:
        _set(runtime, spec.job_id, status=JobStatus.RUNNING)
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
                _set(runtime, spec.job_id, frames_done=done, frames_total=total)

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
        seconds = frames / spec.fps
        QuotaService(runtime.engine, audit).charge(spec.owner, seconds)
        _set(
            runtime,
            spec.job_id,
            status=JobStatus.SUCCEEDED,
            frames_done=frames,
            frames_total=frames,
            finished_at=datetime.now(UTC),
        )
        audit.record(
            AuditTag.GENERATION_JOB_COMPLETE,
            spec.actor,
            objects={"job": spec.job_id},
            payload={"frames": frames, "seconds": seconds, "reference": spec.receipt.index},
        )
    except Exception as exc:
        final.unlink(missing_ok=True)
        _set(
            runtime,
            spec.job_id,
            status=JobStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:500],
            finished_at=datetime.now(UTC),
        )
        audit.record(
            AuditTag.GENERATION_JOB_FAIL,
            spec.actor,
            outcome="failure",
            objects={"job": spec.job_id},
            reasons=[type(exc).__name__],
        )
        raise
    finally:
        unsigned.unlink(missing_ok=True)
        for leftover in Path(spec.audio).parent.glob("speech.*"):
            leftover.unlink(missing_ok=True)  # the uploaded voice is not kept after rendering
        runtime.close()
