"""An approved researcher with an API client, for the benchmarks that go through access."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lpm_guard.access.models import IntendedUse
from lpm_guard.access.principals import Principal
from lpm_guard.access.routes import AccessServices
from lpm_guard.access.schemas import TERMS_VERSION, ApplicationForm, Approval
from lpm_guard.access.scopes import Role

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Researcher:
    principal: Principal
    client_id: str  # a confidential client for the client_credentials grant
    client_secret: str


def approved_researcher(
    access: AccessServices,
    purpose: str,
    uses: Sequence[IntendedUse],
    daily_quota_s: float = 600.0,
) -> Researcher:
    """Apply, be approved (by "bench") and register an API client, through the services."""
    form = ApplicationForm(
        name="Bench Researcher",
        email="bench@example.org",
        password=PASSWORD,
        institution="University of Somewhere",
        position="Postdoctoral researcher",
        research_purpose=purpose,
        ethics_reference="IRB-2026-0042",
        intended_uses=list(uses),
        accepted_terms_version=TERMS_VERSION,
    )
    applied = access.applications.apply(form, "bench")
    approval = Approval(reason="benchmark", daily_quota_s=daily_quota_s)
    access.applications.approve(applied.id, approval, "bench")
    principal = Principal(subject=applied.account_id, role=Role.RESEARCHER)
    client = access.clients.create(principal, "bench client")
    return Researcher(principal, client.client_id, client.client_secret)
