"""A person's consent, the whole way, for tests of every domain that need a consented person.

The researcher enrolls the person with their address; the invitation arrives at the loopback
SMTP server; the subject opens a capture session and uploads a live capture that follows that
session's script (the bona fide proxy of ``captures.py``, rendered from a photo of the person
other than the enrolled one); a reviewer approves. Nothing is short-cut but the wait: the
session's opening is moved back by the script's length, as if the subject had taken that long to
record (``backdate``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlmodel import Session

from lpm_guard.access.principals import Principal
from lpm_guard.consent.captures import CaptureReceipt, CaptureService
from lpm_guard.consent.liveness import Script, new_script
from lpm_guard.consent.models import Capture, Use
from lpm_guard.consent.services import ConsentService
from tests.consent import captures
from tests.consent.conftest import png
from tests.mailbox import Mailbox

REVIEWER = "reviewer-1"
# Every consent test's captures: rendered once per run into this folder (renders are cached by
# their inputs) and following one script, so each (person, species) is rendered once.
CAPTURES = Path(__file__).resolve().parents[2] / "build" / "test-cache" / "captures"
SEED = 1


@dataclass(frozen=True)
class Consented:
    identity_id: str
    capture_id: str
    token: str  # the invitation token the subject received
    receipt: CaptureReceipt
    video: Path  # the recording the subject uploaded


def script(seed: int = SEED) -> Script:
    return new_script(rng=random.Random(seed))


SCRIPT = script()


def backdate(service: ConsentService, capture_id: str, seconds: float) -> None:
    """Move a capture session's opening back, as if the subject had been recording that long."""
    with Session(service.engine) as session:
        capture = session.get(Capture, capture_id)
        assert capture is not None
        capture.opened_at = capture.opened_at - timedelta(seconds=seconds)
        capture.deadline = capture.deadline - timedelta(seconds=seconds)
        session.add(capture)
        session.commit()


def enroll_and_invite(
    service: ConsentService,
    mailbox: Mailbox,
    principal: Principal,
    enrolled: np.ndarray,
    *,
    email: str = "subject@example.org",
    uses: Sequence[Use] = (Use.OFFLINE, Use.LIVE),
) -> tuple[str, str]:
    """The identity's id and the invitation token, read where only the subject reads it."""
    identity = service.create_identity(principal, "Subject", [png(enrolled)], subject_email=email)
    service.invite(principal, identity.id, list(uses))
    return identity.id, mailbox.invitation_token(email)


def submit(
    service: ConsentService,
    token: str,
    video: Path,
    the_script: Script,
    *,
    content_type: str = "video/webm",
) -> tuple[CaptureService, str, CaptureReceipt]:
    captures_ = CaptureService(service, scripts=lambda: the_script)
    opened = captures_.open_capture(token)
    backdate(service, opened.capture_id, the_script.duration_s + 1)
    receipt = captures_.submit_capture(token, opened.capture_id, video, content_type)
    return captures_, opened.capture_id, receipt


def consent_person(
    service: ConsentService,
    mailbox: Mailbox,
    principal: Principal,
    *,
    enrolled: np.ndarray,
    live: np.ndarray,
    cache: Path = CAPTURES,
    email: str = "subject@example.org",
    uses: Sequence[Use] = (Use.OFFLINE, Use.LIVE),
    seed: int = SEED,
    variant: int = 0,
) -> Consented:
    """Enroll ``enrolled`` (the researcher's photo), consent live as the person of ``live`` (a
    photo of the same person for the proxy's texture), approve as a reviewer. ``variant`` picks
    the recording's room, noise and moments (a new recording of the person, not a copy)."""
    identity_id, token = enroll_and_invite(
        service, mailbox, principal, enrolled, email=email, uses=uses
    )
    the_script = script(seed)
    cache.mkdir(parents=True, exist_ok=True)
    # The proxy's texture is the live photo mirrored: it stands for another picture of the
    # person than the one enrolled (rendered from the enrolled photo itself, its frontal frames
    # would be that photo, and the copy check would rightly say so).
    texture = np.ascontiguousarray(live[:, ::-1])
    files = captures.bona_fide(texture, the_script, cache, seed=variant)
    captures_, capture_id, receipt = submit(service, token, files.webm, the_script)
    captures_.decide(REVIEWER, capture_id, approve=True, reason="watched: the person, live")
    return Consented(identity_id, capture_id, token, receipt, files.webm)
