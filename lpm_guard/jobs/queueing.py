"""Where admitted offline jobs wait and who renders them: one small interface, two queues.

- ``ProcessQueue`` (the default on SQLite, one machine): worker processes of the server that
  admitted the job, under that server's lease; they die with it.
- ``ProcrastinateQueue`` (the default on PostgreSQL): procrastinate's queue in the same
  database. ``lpm-guard worker`` processes on any machine take jobs from it (``run_worker``),
  one at a time each, with procrastinate's locks (one job id, one worker), retries (a database
  that went away for a moment) and stalled-job recovery (a job whose worker died, even
  mid-render, is queued again for another worker), ``RENDER_ATTEMPTS`` runs at most. A worker
  claims the job's row under its own lease; the servers' lease recovery leaves a job to the
  queue while the queue holds it, and fails (and refunds) one the queue lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import make_url, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import col

from ..lifelines import die_with
from ..logs import get_logger
from ..runtime import Runtime
from ..settings import Settings
from .ledger import QUEUE_HOLDER, GenerationJob, JobSpec, JobStatus, fail
from .worker import run_job

log = get_logger(__name__)

TASK = "lpm_guard.render"
QUEUE = "renders"
# Runs of one job at most: retries after a database outage and after its worker died
# together. Past that the job is failed and refunded (a job that kills every worker it runs
# on, by its memory for instance, must not take the fleet down one worker at a time).
RENDER_ATTEMPTS = 5
# A worker that has not said it is alive for this many leases has died: procrastinate gives
# its jobs to another worker.
STALLED_LEASES = 3


def stalled_worker_s(settings: Settings) -> float:
    return STALLED_LEASES * settings.node_lease_s


class JobQueue(Protocol):
    @property
    def holder(self) -> str | None:
        """Whose lease a queued job is under: None for this node's (``ProcessQueue``)."""
        ...

    def put(self, spec: JobSpec) -> None:
        """Queue an admitted job whose row and files are in place."""
        ...

    def running(self) -> set[str]:
        """The jobs this process still runs under its own lease (``ProcessQueue``'s workers;
        none for procrastinate's queue, whose workers hold their own)."""
        ...

    def close(self) -> list[str]:
        """Stop; returns the ids of jobs this process was rendering and did not finish."""
        ...


class ProcessQueue:
    """Worker processes of this server (spawned: nothing of its state is shared)."""

    holder = None

    def __init__(self, workers: int = 1) -> None:
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with,
            initargs=(os.getpid(),),
        )
        self.futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()  # requests put, the lease thread reads

    def put(self, spec: JobSpec) -> None:
        future = self._pool.submit(run_job, spec)
        with self._lock:
            self.futures[spec.job_id] = future

    def running(self) -> set[str]:
        with self._lock:
            # A finished run (done, or failed, whether or not its end could be written) is
            # let go: the lease rules end a job its run could not close.
            for job_id in [j for j, future in self.futures.items() if future.done()]:
                del self.futures[job_id]
            return set(self.futures)

    def close(self) -> list[str]:
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
        return sorted(self.running())


def conninfo(database_url: str) -> str:
    """The libpq URI of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def procrastinate_app(database_url: str) -> Any:
    """procrastinate's app over the database, with the render task registered."""
    import procrastinate
    from procrastinate import RetryStrategy

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=conninfo(database_url), min_size=1, max_size=4
        )
    )
    retry = RetryStrategy(
        max_attempts=RENDER_ATTEMPTS,
        wait=2,
        retry_exceptions={OperationalError, InterfaceError, OSError},
    )

    @app.task(name=TASK, queue=QUEUE, retry=retry, pass_context=True)
    def render(context: Any, job: dict[str, Any]) -> None:
        _render(job, attempts=context.job.attempts)

    return app


class ProcrastinateQueue:
    """Jobs deferred to procrastinate's queue in the database; ``lpm-guard worker`` renders."""

    holder = QUEUE_HOLDER

    def __init__(self, database_url: str) -> None:
        self.app = procrastinate_app(database_url)
        self._opened = False
        self._lock = threading.Lock()

    def put(self, spec: JobSpec) -> None:
        with self._lock:
            if not self._opened:
                self.app.open()
                self._opened = True
        # One job id, one job in the queue (queueing_lock) and one worker at a time (lock).
        self.app.configure_task(
            TASK, queue=QUEUE, lock=spec.job_id, queueing_lock=spec.job_id
        ).defer(job=spec.to_args())

    def close(self) -> list[str]:
        with self._lock:
            if self._opened:
                self.app.close()
                self._opened = False
        return []

    def running(self) -> set[str]:
        return set()


def queue_for(runtime: Runtime, workers: int = 1) -> JobQueue:
    if runtime.settings.uses_procrastinate:
        return ProcrastinateQueue(runtime.settings.resolved_database_url)
    return ProcessQueue(workers)


# --- the worker side ----------------------------------------------------------------------------

_worker: _WorkerState | None = None


class _WorkerState:
    """What one ``lpm-guard worker`` process holds: its runtime and the jobs it renders now,
    whose leases a thread renews (only those: a job it let go lapses and is recovered)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.active: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._renew, name="worker-lease", daemon=True)
        self.thread.start()

    def _renew(self) -> None:
        every = self.runtime.settings.node_lease_s / 4
        while not self.stop.wait(every):
            with self.lock:
                active = list(self.active)
            if not active:
                continue
            try:
                with self.runtime.engine.begin() as conn:
                    conn.execute(
                        update(GenerationJob)
                        .where(
                            col(GenerationJob.id).in_(active),
                            col(GenerationJob.node_id) == self.runtime.node_id,
                            col(GenerationJob.status) == JobStatus.RUNNING,
                        )
                        .values(heartbeat_at=datetime.now(UTC))
                    )
            except Exception:  # the database is away: the next beat tries again
                log.exception("renewing the worker's leases failed", node=self.runtime.node_id)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def _render(args: dict[str, Any], attempts: int = 0) -> None:
    """Run one job of the queue; ``attempts``: its runs before this one (procrastinate's
    count: a retry after an outage, or a stalled job requeued after its worker died)."""
    state = _worker
    if state is None:  # pragma: no cover - the task runs only in ``run_worker``
        raise RuntimeError("the render task runs in `lpm-guard worker`")
    spec = JobSpec.from_args(args, state.runtime)
    if attempts >= RENDER_ATTEMPTS:
        # Failed, refunded and audited once (a compare-and-set: never a finished job).
        fail(
            state.runtime,
            spec.job_id,
            "system",
            f"its rendering was interrupted {attempts} times",
        )
        return
    with state.lock:
        state.active.add(spec.job_id)
    try:
        run_job(spec, runtime=state.runtime, claim_as=state.runtime.node_id)
    finally:
        with state.lock:
            state.active.discard(spec.job_id)


async def _requeue_stalled(app: Any, stalled_s: float) -> None:
    """procrastinate's stalled-job recovery: jobs taken by workers that stopped beating go
    back to the queue, one attempt more, for another worker (which takes the row once the dead
    worker's lease lapsed: see ``worker._claim``)."""
    while True:
        try:
            for job in await app.job_manager.get_stalled_jobs(
                queue=QUEUE, seconds_since_heartbeat=stalled_s
            ):
                log.warning("requeueing a stalled job", job=job.id, attempts=job.attempts)
                await app.job_manager.retry_job(job)
        except Exception:
            log.exception("looking for stalled jobs failed")
        await asyncio.sleep(stalled_s / 2)


def run_worker(runtime: Runtime, *, concurrency: int = 1, wait: bool = True) -> None:
    """Render jobs from procrastinate's queue until SIGTERM or SIGINT (or, without ``wait``,
    until the queue is empty). One job at a time per process: start more processes (on any
    machine) for more."""
    global _worker
    _worker = _WorkerState(runtime)
    app = procrastinate_app(runtime.settings.resolved_database_url)
    stalled = stalled_worker_s(runtime.settings)

    async def main() -> None:
        async with app.open_async():
            recovery = asyncio.create_task(_requeue_stalled(app, stalled))
            try:
                await app.run_worker_async(
                    queues=[QUEUE],
                    name=runtime.node_id,
                    concurrency=concurrency,
                    wait=wait,
                    delete_jobs="successful",
                    stalled_worker_timeout=stalled,
                    update_heartbeat_interval=stalled / 6,
                    shutdown_graceful_timeout=30.0,
                )
            finally:
                recovery.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recovery

    try:
        asyncio.run(main())
    finally:
        state, _worker = _worker, None
        if state is not None:
            state.close()
