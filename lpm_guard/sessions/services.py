"""What the session routes need, built once per app from its runtime."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from ..access.interfaces import Quotas
from ..access.quotas import QuotaService
from ..auditing.services import AuditService
from ..consent.services import ConsentService
from ..policy import Policy
from ..provenance.services import ProvenanceService
from ..runtime import Runtime
from .checkpool import CheckPool
from .gate import Gate
from .leases import NodeLease
from .registry import SessionRegistry


@dataclass
class SessionServices:
    runtime: Runtime
    audit: AuditService
    policy: Policy
    quotas: Quotas
    gate: Gate
    registry: SessionRegistry
    provenance: ProvenanceService
    checks: CheckPool  # live speech checks, in worker processes started on first use
    lease: NodeLease  # this node's leases on its jobs and live sessions


def build_session_services(
    runtime: Runtime,
    *,
    quotas: Quotas | None = None,
    registry: SessionRegistry | None = None,
    consent: ConsentService | None = None,
    lease: NodeLease | None = None,
) -> SessionServices:
    """The services the gate's routes and the CLI share, over one runtime."""
    audit = AuditService(runtime.audit)
    registry = registry if registry is not None else SessionRegistry()  # an empty one is falsy
    policy = Policy.load()
    quotas = quotas if quotas is not None else QuotaService(runtime.engine, audit)
    consent = consent if consent is not None else ConsentService(runtime)
    return SessionServices(
        runtime,
        audit,
        policy,
        quotas,
        Gate(audit, consent, policy, quotas),
        registry,
        ProvenanceService.from_runtime(runtime),
        CheckPool(policy, runtime.settings.live_speech_workers or None),
        lease if lease is not None else NodeLease(runtime, registry),
    )


def session_services(app: FastAPI) -> SessionServices:
    services: SessionServices | None = getattr(app.state, "session_services", None)
    if services is None:
        runtime: Runtime = app.state.runtime
        services = build_session_services(
            runtime,
            quotas=app.state.access.quotas,
            registry=app.state.sessions,
            consent=ConsentService(runtime, getattr(app.state, "consent_settings", None)),
            lease=app.state.lease,
        )
        app.state.session_services = services
    return services
