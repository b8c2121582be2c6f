"""What the session routes need, built once per app from its runtime."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from ..access.interfaces import Quotas
from ..auditing.services import AuditService
from ..consent.services import ConsentService
from ..policy import Policy
from ..provenance.services import ProvenanceService
from ..runtime import Runtime
from .gate import Gate
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


def session_services(app: FastAPI) -> SessionServices:
    services: SessionServices | None = getattr(app.state, "session_services", None)
    if services is None:
        runtime: Runtime = app.state.runtime
        audit = AuditService(runtime.audit)
        policy = Policy.load()
        quotas: Quotas = app.state.access.quotas
        consent = ConsentService(runtime, getattr(app.state, "consent_settings", None))
        services = SessionServices(
            runtime,
            audit,
            policy,
            quotas,
            Gate(audit, consent, policy, quotas),
            app.state.sessions,
            ProvenanceService.from_runtime(runtime),
        )
        app.state.session_services = services
    return services
