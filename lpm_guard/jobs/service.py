"""Offline generation, the service: the gate, then the queue.

``JobService.submit`` runs the gate (access, consent, policy over the instructions, the audio's
transcript and the reference images) in the caller's thread, reserving the audio's seconds of
quota, puts the job on the books (``ledger``) under this node's lease and hands the rendering to
the job queue (``queueing``): requests never render.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col

from ..access.errors import Conflict
from ..access.principals import Principal
from ..consent.faces import RGB, decode_image, shrink
from ..consent.models import Use
from ..errors import NotFound
from ..gate.gate import Admission
from ..gate.services import GateServices
from ..policy import AudioDecision, InputRejected
from ..policy import Use as PolicyUse
from .audio_checks import AudioCheckPool
from .holds import ReviewView, check_evidence, hold
from .ledger import (
    GenerationJob,
    JobLeases,
    JobSpec,
    JobStatus,
    JobView,
    fail,
    job_directory,
    output_path,
    write_transcript,
)
from .queueing import JobQueue, queue_for


class JobService:
    def __init__(
        self,
        services: GateServices,
        workers: int = 1,
        queue: JobQueue | None = None,
        audio_checks: AudioCheckPool | None = None,
    ) -> None:
        self.services = services
        self.runtime = services.runtime
        self.queue = queue if queue is not None else queue_for(self.runtime, workers)
        # The server checks audio in worker processes (its event loop and live sessions stay
        # free); the CLI, in its own process, without them.
        self.audio_checks = audio_checks

    def close(self) -> None:
        """Stop taking jobs. The server's own worker processes stop now: a job they were
        rendering fails here (its quota refunded) rather than outlive the server; jobs on
        procrastinate's queue stay there for the workers."""
        for job_id in self.queue.close():
            fail(self.runtime, job_id, "system", "the server stopped", held_by=self.runtime.node_id)
        if self.audio_checks is not None:
            self.audio_checks.close()

    def running(self) -> set[str]:
        """The jobs this node's own workers still run (whose leases it renews)."""
        return self.queue.running()

    def reference(self, path: Path) -> RGB:
        """A reference image, decoded (in a worker process when the server has them) and
        shrunk to the size the gate compares faces at."""
        if self.audio_checks is not None:
            return self.audio_checks.reference(path)
        return shrink(decode_image(path.read_bytes()))

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
        check = policy.check_audio_file if self.audio_checks is None else self.audio_checks.check
        spoken = []
        for path in [audio, *([listen_audio] if listen_audio else [])]:
            try:
                spoken.append(check(path, PolicyUse.OFFLINE))
            except InputRejected as exc:
                self.services.gate.refuse(
                    principal, identity_id, Use.OFFLINE, f"audio refused: {exc}"
                )
        seconds = max(a.duration_s for a in spoken)
        # The gate reserves the audio's seconds of quota, or refuses (and audits the refusal).
        admission = self.services.gate.admit(
            principal,
            identity_id,
            Use.OFFLINE,
            instructions=instructions,
            references=references,
            checked=[a.decision for a in spoken],
            seconds=seconds,
            reviewable=True,
        )
        job_id = None
        try:
            job_id = self._book(principal, identity_id, admission, audio, listen_audio, fps)
            # What the recogniser heard, with its timing: the mouth follows the words. Beside
            # the voice, and deleted with it once rendered (never in the queue's arguments).
            write_transcript(job_directory(self.runtime, job_id), spoken[0].spoken)
            if admission.review:
                self._hold(principal, job_id, admission, spoken, instructions, fps)
                return self.get(principal, job_id)
            spec = self._spec(principal, identity_id, job_id, admission, instructions, fps)
        except BaseException:
            # On the books already: failing it refunds it; otherwise refund here.
            if job_id is None or not fail(
                self.runtime, job_id, "system", "the job could not be queued"
            ):
                self.services.quotas.refund(
                    principal.subject,
                    admission.reserved_s,
                    admission.quota_day,
                    reason="the job could not be queued",
                )
            raise
        try:
            self.queue.put(spec)
        except BaseException:
            fail(self.runtime, spec.job_id, "system", "no worker took the job")
            raise
        return self.get(principal, spec.job_id)

    def _book(
        self,
        principal: Principal,
        identity_id: str,
        admission: Admission,
        audio: Path,
        listen_audio: Path | None,
        fps: int,
    ) -> str:
        """The admitted (or held) job on the books and its files in place: queued under this
        node's lease, or awaiting review under none."""
        job_id = "job_" + secrets.token_urlsafe(12)
        directory = job_directory(self.runtime, job_id)
        directory.mkdir(parents=True, mode=0o700)
        moved_audio = directory / ("speech" + audio.suffix)
        shutil.move(audio, moved_audio)
        moved_listen = None
        if listen_audio is not None:
            moved_listen = directory / ("listen" + listen_audio.suffix)
            shutil.move(listen_audio, moved_listen)
        now = datetime.now(UTC)
        held = bool(admission.review)
        holder = None if held else self._holder()
        with Session(self.runtime.engine) as session:
            session.add(
                GenerationJob(
                    id=job_id,
                    owner=principal.subject,
                    identity_id=identity_id,
                    status=JobStatus.AWAITING_REVIEW if held else JobStatus.QUEUED,
                    frames_done=0,
                    frames_total=max(1, round(admission.reserved_s * fps)),
                    audit_index=admission.receipt.index,
                    seconds=admission.reserved_s,
                    created_at=now,
                    node_id=holder,
                    heartbeat_at=None if held else now,
                    review="; ".join(admission.review) if held else None,
                )
            )
            session.commit()
        return job_id

    def _holder(self) -> str:
        """Whose lease a job queued now runs under (this node's is renewed until it ends)."""
        if self.queue.holder is None:
            # (in a server, the app's lease already holds its jobs: ``api.app``)
            self.services.lease.hold(JobLeases(self.running))
        return self.queue.holder or self.runtime.node_id

    def _hold(
        self,
        principal: Principal,
        job_id: str,
        admission: Admission,
        spoken: Sequence[AudioDecision],
        instructions: str | None,
        fps: int,
    ) -> ReviewView:
        """The held job into the review queue, with what the policy saw."""
        sources = ["speech", "listening audio"][: len(spoken)]
        sources += ["instructions"] if instructions else []
        sources += [f"reference image {n + 1}" for n in range(len(admission.references))]
        evidence = {
            "instructions": instructions,
            "transcripts": [
                {"input": source, "text": audio.transcript}
                for source, audio in zip(sources, spoken, strict=False)
            ],
            "checks": [
                check_evidence(source, decision)
                for source, decision in zip(sources, admission.decisions, strict=True)
            ],
            "references": len(admission.references),
            "seconds": admission.reserved_s,
            "quota_day": admission.quota_day,
            "fps": fps,
        }
        return hold(
            self.runtime,
            job_id,
            principal.subject,
            principal.actor,
            admission.identity_id,
            reasons=list(admission.review),
            evidence=evidence,
            request_entry=admission.receipt.index,
        )

    def _spec(
        self,
        principal: Principal,
        identity_id: str,
        job_id: str,
        admission: Admission,
        instructions: str | None,
        fps: int,
        holder: str | None = None,
    ) -> JobSpec:
        """What a worker is given for a job on the books (``holder``: whose lease it is under
        when the row already says so)."""
        directory = job_directory(self.runtime, job_id)
        moved_audio = next(directory.glob("speech.*"))
        moved_listen = next(directory.glob("listen.*"), None)
        holder = holder or self.queue.holder or self.runtime.node_id
        return JobSpec(
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
            holder,
            admission.quota_day,
            admission.reserved_s,
            str(self.runtime.settings.keys_dir),
            identity_id,
            str(self.runtime.settings.media_dir),
            admission.landmarks,
        )

    def start_reviewed(
        self, job_id: str, admission: Admission, instructions: str | None, fps: int
    ) -> JobView:
        """A held job a reviewer approved and the gate released (``admission``): from awaiting
        review to queued under a lease (only if it still awaits review), then to a worker."""
        holder = self._holder()
        now = datetime.now(UTC)
        with Session(self.runtime.engine) as session:
            result = session.execute(
                update(GenerationJob)
                .where(
                    col(GenerationJob.id) == job_id,
                    col(GenerationJob.status) == JobStatus.AWAITING_REVIEW,
                )
                .values(
                    status=JobStatus.QUEUED,
                    audit_index=admission.receipt.index,
                    node_id=holder,
                    heartbeat_at=now,
                )
            )
            session.commit()
        if getattr(result, "rowcount", 0) != 1:
            raise Conflict("the job no longer awaits review")
        owner = Principal(admission.subject)
        spec = self._spec(owner, admission.identity_id, job_id, admission, instructions, fps)
        try:
            self.queue.put(spec)
        except BaseException:
            fail(self.runtime, job_id, "system", "no worker took the job")
            raise
        return self.get(owner, job_id)

    def get_any(self, job_id: str) -> JobView:
        """Any job (for the operator's command line, and reviewers' decisions)."""
        return self.get(Principal("operator"), job_id, reviewer=True)

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
