"""The sandbox, built from the same service functions the API and the other commands call:
each step below is one of them, and each records its own audit event.

1. two sandbox accounts (``AccountService.create_sandbox``): an operator (a reviewer) and a
   researcher, with one-time passwords; their ids start ``sandbox_``, so every audit entry they
   make names them as sandbox, and every page says so while they are signed in;
2. the researcher's application (``ApplicationService.reapply``), approved by the sandbox
   operator (``ApplicationService.approve``) with a small quota;
3. Pip, the drawn character bundled here, enrolled with its explicit landmarks
   (``ConsentService.enroll_synthetic``) and approved by the operator
   (``ConsentService.review_synthetic``): the synthetic-character path, no real person;
4. a short clip of Pip reading the bundled voice file, through the gate
   (``JobService.submit``: access, consent, policy, quota), watermarked and C2PA-signed;
5. the clip verified (``ProvenanceService.verify_file``: C2PA, watermark, audit inclusion).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlmodel import Session

from ..access.accounts import AccountService, NewAccount
from ..access.applications import ApplicationService
from ..access.ids import utcnow
from ..access.models import IntendedUse
from ..access.principals import Principal
from ..access.schemas import TERMS_VERSION, ApplicationDetails, Approval
from ..access.scopes import Role
from ..access.standing import standing_of
from ..auditing.services import AuditService
from ..consent.models import SyntheticOrigin, Use
from ..consent.services import ConsentService
from ..errors import LpmGuardError
from ..gate.services import build_gate_services
from ..jobs.ledger import FINISHED, JobStatus, output_path
from ..jobs.service import JobService
from ..provenance.report import VerificationReport
from ..provenance.services import ProvenanceService
from ..runtime import Runtime

CHARACTER = "Pip"
ATTESTATION = (
    "Pip is drawn with OpenCV from a generic 68-point mean face (lpm_guard/demo/make_assets.py); "
    "it depicts no real person."
)
QUOTA_S = 120.0  # the sandbox researcher's daily quota: a few short clips
ACCESS_DAYS = 7


class DemoFailed(LpmGuardError):
    """A step of the demo did not end as it should (the job failed, the clip did not verify)."""


@dataclass(frozen=True)
class Demo:
    operator: NewAccount
    researcher: NewAccount
    identity_id: str
    job_id: str
    clip: Path
    report: VerificationReport


def bundled(name: str) -> bytes:
    """One of the demo's bundled files (``pip.png``, ``pip.json``, ``pip.ogg``)."""
    return resources.files(__package__).joinpath("data", name).read_bytes()


def _principal(runtime: Runtime, account_id: str) -> Principal:
    with Session(runtime.engine) as db:
        standing = standing_of(db, account_id, utcnow())
    if standing is None or standing.locked:
        raise DemoFailed(f"the sandbox account {account_id} is not in good standing")
    return Principal(account_id, standing.scopes, Role(standing.account.role))


def run_demo(
    runtime: Runtime, actor: str, out: Path, say: Callable[[str], None] = lambda _: None
) -> Demo:
    """Build the sandbox as ``actor`` (the operator at the CLI) and write the clip to ``out``
    (beside it first, then renamed: never half a file). Raises ``DemoFailed`` (or the step's
    own error) and leaves what it made so far on record."""
    audit = AuditService(runtime.audit)
    accounts = AccountService(runtime.engine, audit)
    applications = ApplicationService(runtime.engine, audit)
    consent = ConsentService(runtime)
    # (1): the sandbox accounts.
    operator = accounts.create_sandbox(Role.REVIEWER, "Sandbox Operator", actor)
    researcher = accounts.create_sandbox(Role.RESEARCHER, "Sandbox Researcher", actor)
    say(f"sandbox operator {operator.email} and researcher {researcher.email} created")
    # (2): the researcher's application, approved by the sandbox operator.
    details = ApplicationDetails(
        institution="lpm-guard sandbox",
        position="Sandbox researcher",
        research_purpose="Trying lpm-guard with a drawn character (lpm-guard demo).",
        ethics_reference="sandbox: no real person is depicted",
        intended_uses=[IntendedUse.OFFLINE, IntendedUse.LIVE],
        accepted_terms_version=TERMS_VERSION,
    )
    pending = applications.reapply(_principal(runtime, researcher.account_id), details, "sandbox")
    applications.approve(
        pending.id,
        Approval(
            reason="Sandbox researcher made by lpm-guard demo",
            expires_in_days=ACCESS_DAYS,
            daily_quota_s=QUOTA_S,
        ),
        operator.account_id,
    )
    principal = _principal(runtime, researcher.account_id)
    # (3): the drawn character, with its landmarks, approved through the review path.
    enrolled = consent.enroll_synthetic(
        principal,
        CHARACTER,
        SyntheticOrigin.DRAWN,
        ATTESTATION,
        [bundled("pip.png")],
        [Use.OFFLINE, Use.LIVE],
        landmarks=bundled("pip.json").decode(),
    )
    consent.review_synthetic(
        operator.account_id,
        enrolled.id,
        approve=True,
        reason="Sandbox: the bundled drawing of Pip, checked against the protected list",
    )
    say(f"{CHARACTER} ({enrolled.id}) enrolled and approved by the sandbox operator")
    # (4): the clip, through the gate; the job takes its audio over, so it gets a copy.
    jobs = JobService(build_gate_services(runtime))
    try:
        with tempfile.TemporaryDirectory(dir=runtime.settings.data_dir) as tmp:
            speech = Path(tmp) / "speech.ogg"
            speech.write_bytes(bundled("pip.ogg"))
            job = jobs.submit(principal, enrolled.id, speech)
        say(f"job {job.id} admitted (audit entry {job.audit_index}); rendering")
        while (view := jobs.get(principal, job.id)).status not in FINISHED:
            time.sleep(0.25)
        if view.status is not JobStatus.SUCCEEDED:
            raise DemoFailed(f"the job failed: {view.error}")
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        shutil.copyfile(output_path(runtime, job.id), partial)
        os.replace(partial, out)
    finally:
        jobs.close()
    # (5): verified as anyone would.
    report = ProvenanceService.from_runtime(runtime).verify_file(out)
    if report.verdict != "authentic":
        raise DemoFailed(f"the clip did not verify: {report.verdict} ({'; '.join(report.notes)})")
    return Demo(operator, researcher, enrolled.id, job.id, out, report)
