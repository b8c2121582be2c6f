"""What the live-session routes need: the gate's services, this process's running sessions and
the pool of live speech checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fastapi import FastAPI

from ..gate.services import GateServices, gate_services
from .checkpool import CheckPool
from .registry import SessionRegistry


@dataclass
class LiveServices(GateServices):
    registry: SessionRegistry
    checks: CheckPool  # live speech checks, in worker processes started on first use


def build_live_services(
    gate: GateServices, registry: SessionRegistry | None = None
) -> LiveServices:
    """The gate's services and what live sessions add to them (sharing the gate's policy)."""
    registry = registry if registry is not None else SessionRegistry()  # an empty one is falsy
    checks = CheckPool(gate.policy, gate.runtime.settings.live_speech_workers or None)
    shared = {field.name: getattr(gate, field.name) for field in dataclasses.fields(gate)}
    return LiveServices(**shared, registry=registry, checks=checks)


def live_services(app: FastAPI) -> LiveServices:
    services: LiveServices | None = getattr(app.state, "live_services", None)
    if services is None:
        services = build_live_services(gate_services(app), app.state.sessions)
        app.state.live_services = services
    return services
