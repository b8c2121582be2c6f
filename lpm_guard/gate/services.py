"""What every generation needs, offline or live, built once per app (or CLI command) from its
runtime: the gate, the policy, the quotas, the audit and provenance services, and this node's
lease."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from ..access.interfaces import Quotas
from ..access.quotas import QuotaService
from ..auditing.services import AuditService
from ..consent.services import ConsentService
from ..leases import NodeLease
from ..policy import Policy
from ..provenance.services import ProvenanceService
from ..runtime import Runtime
from .gate import Gate


@dataclass
class GateServices:
    runtime: Runtime
    audit: AuditService
    policy: Policy
    quotas: Quotas
    gate: Gate
    provenance: ProvenanceService
    lease: NodeLease  # this node's leases on its jobs and live sessions


def build_gate_services(
    runtime: Runtime,
    *,
    quotas: Quotas | None = None,
    consent: ConsentService | None = None,
    lease: NodeLease | None = None,
) -> GateServices:
    """The services the gate's routes and the CLI share, over one runtime."""
    audit = AuditService(runtime.audit)
    policy = Policy.load()
    quotas = quotas if quotas is not None else QuotaService(runtime.engine, audit)
    consent = consent if consent is not None else ConsentService(runtime)
    return GateServices(
        runtime,
        audit,
        policy,
        quotas,
        Gate(audit, consent, policy, quotas),
        ProvenanceService.from_runtime(runtime),
        lease if lease is not None else NodeLease(runtime),
    )


def gate_services(app: FastAPI) -> GateServices:
    services: GateServices | None = getattr(app.state, "gate_services", None)
    if services is None:
        runtime: Runtime = app.state.runtime
        services = build_gate_services(
            runtime,
            quotas=app.state.access.quotas,
            consent=ConsentService(runtime, getattr(app.state, "consent_settings", None)),
            lease=app.state.lease,
        )
        app.state.gate_services = services
    return services
