"""The FastAPI app factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from fastapi import FastAPI

from .. import __version__
from ..access.principals import Authenticator
from ..access.wiring import install as install_access
from ..auditing.routes import router as audit_router
from ..consent.routes import router as consent_router
from ..jobs.ledger import JobLeases
from ..jobs.review_routes import router as generation_reviews_router
from ..jobs.routes import jobs_of
from ..jobs.routes import router as generations_router
from ..leases import NodeLease
from ..live.ledger import SessionLeases
from ..live.registry import RegistryLimits, SessionRegistry
from ..live.review_routes import router as instruction_reviews_router
from ..live.routes import router as sessions_router
from ..live.services import live_services
from ..live.stream import router as stream_router
from ..logs import configure, get_logger
from ..provenance.routes import router as provenance_router
from ..ratelimits import RateLimits
from ..runtime import Runtime
from ..settings import Settings
from . import openapi, problems
from .health import router as health_router
from .middleware import RequestIdMiddleware, SecurityHeadersMiddleware
from .webfiles import WebFiles

WEB = Path(str(resources.files("lpm_guard.web")))
log = get_logger(__name__)


async def _checkpoint_periodically(runtime: Runtime) -> None:
    """Seal what was appended into a signed checkpoint at most every interval."""
    while True:
        await asyncio.sleep(runtime.settings.checkpoint_interval_s)
        try:
            await asyncio.to_thread(runtime.audit.checkpoint)
        except Exception:
            log.exception("checkpoint failed")


def _warm_workers(app: FastAPI) -> None:
    """The generation's audio checks and the live speech checks, started before the first
    request needs them: started inside that request, on a busy machine they took longer
    than a client waits (41.6 s against a 30 s timeout)."""
    try:
        audio_checks = jobs_of(app).audio_checks
        if audio_checks is not None:
            audio_checks.warm()
        live_services(app).checks.warm()
    except Exception:  # the first request that needs them tries again, and says what failed
        log.exception("starting the check workers failed")


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    runtime = runtime or Runtime.open(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # This node's own leftovers (a restart under the same node id) and other nodes' work
        # whose lease lapsed; never a live neighbour's. Then again at every beat of the lease.
        lease: NodeLease = app.state.lease
        await asyncio.to_thread(lease.recover)
        lease.start()
        task = asyncio.create_task(_checkpoint_periodically(runtime))
        warming = None
        if runtime.settings.warm_workers:
            warming = asyncio.create_task(asyncio.to_thread(_warm_workers, app))
        try:
            yield
        finally:
            running = list(app.state.sessions.matching())
            app.state.sessions.stop_all()
            for session in running:  # their ends are recorded before the process goes
                await asyncio.to_thread(session.join, 2.0)
            if warming is not None:  # a pool closed while its workers start would leak them
                await warming
            jobs = getattr(app.state, "jobs", None)
            if jobs is not None:
                jobs.close()
            lease.stop()
            services = getattr(app.state, "live_services", None)
            if services is not None:
                services.checks.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            app.state.rate_limits.close()

    app = FastAPI(
        title="lpm-guard",
        version=__version__,
        description="Gated, consented, watermarked portrait animation with a tamper-evident log.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.sessions = SessionRegistry(
        RegistryLimits(
            per_owner=runtime.settings.live_sessions_per_researcher,
            per_process=runtime.settings.live_sessions_per_process,
        )
    )

    def running_jobs() -> set[str]:
        jobs = getattr(app.state, "jobs", None)  # made at the first request that needs it
        return jobs.running() if jobs is not None else set()

    # Renewed: only the jobs and sessions this node runs (what it could not close lapses).
    app.state.lease = NodeLease(
        runtime, [JobLeases(running_jobs), SessionLeases(app.state.sessions)], recover=True
    )
    # Verify and sign-in limits, in Redis when LPM_REDIS_URL is set (shared by every node).
    app.state.rate_limits = RateLimits.from_settings(runtime.settings)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    problems.install(app)
    openapi.install(app)
    app.include_router(health_router)
    app.include_router(audit_router)
    app.include_router(sessions_router)
    app.include_router(generations_router)
    app.include_router(generation_reviews_router)
    app.include_router(instruction_reviews_router)
    app.include_router(stream_router)
    app.include_router(consent_router)
    install_access(app, runtime, authenticator)  # OAuth2, and the authenticator unless given
    app.include_router(provenance_router)
    if WEB.is_dir():
        app.mount("/", WebFiles(directory=WEB, html=True), name="web")
    return app


def from_environment() -> FastAPI:
    """The app of one of ``lpm-guard serve --workers N``'s processes: settings and logging
    from the environment, as the command line has them."""
    settings = Settings()
    configure(settings.log_level, json=settings.log_json)
    return create_app(settings)
