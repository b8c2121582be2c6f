"""Live capture sessions through the service: the whole way to a reviewer's approval, and every
way a subject's upload can be wrong (another session's, replayed, late, early, truncated,
foreign, silent) refused with a clear problem, nothing stored, the attempt audited."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest
from sqlmodel import Session, select

from lpm_guard.consent.captures import CaptureService
from lpm_guard.consent.errors import (
    CaptureGone,
    CaptureNotFound,
    ConsentRefused,
    LinkGone,
    UnreadableMedia,
    UnsupportedCapture,
    WrongState,
)
from lpm_guard.consent.models import (
    Capture,
    CaptureStatus,
    ConsentRecord,
    IdentityStatus,
    PhotoSource,
    ReferencePhoto,
    Use,
)
from lpm_guard.consent.services import ConsentService
from lpm_guard.runtime import Runtime
from tests.consent import captures
from tests.consent.consenting import (
    CAPTURES,
    REVIEWER,
    backdate,
    consent_person,
    enroll_and_invite,
    script,
    submit,
)
from tests.mailbox import Mailbox

from .conftest import PRINCIPALS, People, camera_still, decode_image

A = PRINCIPALS["token-researcher-a"]
CACHE = CAPTURES
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def cache() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE


def entries(runtime: Runtime, action: str) -> list[dict[str, object]]:
    log = runtime.audit
    found = [json.loads(log.entry(i).body) for i in range(log.size())]
    return [e for e in found if e["action"] == action]


def enrolled(photo: np.ndarray) -> np.ndarray:
    """The researcher's copy of the photo: rescaled, brighter, re-compressed."""
    return decode_image(camera_still(photo))


def test_a_live_capture_waits_for_a_reviewer_then_the_person_can_be_generated(
    service: ConsentService,
    smtp_server: Mailbox,
    people: People,
    runtime: Runtime,
    cache: Path,
) -> None:
    photo = people.astronaut
    identity_id, token = enroll_and_invite(service, smtp_server, A, enrolled(photo))
    the_script = script()
    files = captures.bona_fide(photo, the_script, cache)
    sessions, capture_id, receipt = submit(service, token, files.webm, the_script)

    # (1): awaiting review: the gate refuses with the reason; the link is spent.
    assert receipt.status == CaptureStatus.AWAITING_REVIEW
    assert service.get_identity(A, identity_id).status == IdentityStatus.AWAITING_REVIEW
    waiting = service.check_request(A.subject, identity_id, Use.OFFLINE, [photo])
    assert waiting.reasons == ("consent awaits a reviewer's approval",)
    with pytest.raises(LinkGone):
        service.read_invitation(token)
    # The withdrawal link went to the subject's address, not into the receipt.
    withdrawal = smtp_server.withdrawal_token("subject@example.org")
    assert withdrawal not in json.dumps(receipt.__dict__)

    # (2): the reviewer's queue and detail: every check's score, the video.
    queue = sessions.queue()
    assert [item.capture_id for item in queue] == [capture_id]
    detail = sessions.detail(REVIEWER, capture_id)
    names = {check["name"] for check in detail.checks}
    assert {"head-turns", "three-d", "lip-sync", "face-match", "copy", "watermarked"} <= names
    assert all(c["outcome"] in ("pass", "flag") for c in detail.checks)
    video, kind = sessions.video(REVIEWER, capture_id)
    assert video == files.webm.read_bytes() and kind == "video/webm"
    assert entries(runtime, "consent:capture:view")[0]["actor"] == REVIEWER

    # (3): approved: the person can be generated, from a reference matching the live face.
    sessions.decide(REVIEWER, capture_id, approve=True, reason="watched: a live person")
    assert service.get_identity(A, identity_id).status == IdentityStatus.CONSENTED
    allowed = service.check_request(A.subject, identity_id, Use.OFFLINE, [photo])
    assert allowed.allowed, allowed.reasons
    # Someone else's face as a reference is refused: it must match the live capture.
    other = service.check_request(A.subject, identity_id, Use.OFFLINE, [people.t1[0]])
    assert not other.allowed
    with pytest.raises(WrongState):
        sessions.decide(REVIEWER, capture_id, approve=False, reason="too late")
    approved = entries(runtime, "consent:consent:approve")
    assert approved[0]["objects"]["capture"] == capture_id  # type: ignore[index]

    # (4): the subject withdraws with the emailed link: the recording is deleted.
    service.revoke_by_subject(withdrawal)
    with Session(runtime.engine) as session:
        capture = session.get(Capture, capture_id)
        assert capture is not None and capture.video is None and capture.hashes is None
        assert session.exec(select(ReferencePhoto)).all() == []


def test_a_rejected_capture_never_comes_into_force(
    service: ConsentService,
    smtp_server: Mailbox,
    people: People,
    runtime: Runtime,
    cache: Path,
) -> None:
    photo = people.astronaut
    identity_id, token = enroll_and_invite(service, smtp_server, A, enrolled(photo))
    the_script = script()
    files = captures.bona_fide(photo, the_script, cache)
    sessions, capture_id, _ = submit(service, token, files.webm, the_script)
    sessions.decide(REVIEWER, capture_id, approve=False, reason="a mask, not a face")
    assert service.get_identity(A, identity_id).status == IdentityStatus.AWAITING_CONSENT
    decision = service.check_request(A.subject, identity_id, Use.OFFLINE, [photo])
    assert not decision.allowed
    with Session(runtime.engine) as session:
        record = session.exec(select(ConsentRecord)).one()
        assert record.revoked_at is not None and record.review_reason == "a mask, not a face"
        stills = session.exec(
            select(ReferencePhoto).where(ReferencePhoto.source == PhotoSource.CONSENT_STILL)
        ).all()
        assert stills == []
        capture = session.get(Capture, capture_id)
        assert capture is not None and capture.video is None


def _refused_without_trace(
    service: ConsentService, runtime: Runtime, capture_id: str | None = None
) -> None:
    """Nothing half-written: no consent record, no capture frame in the gallery, the capture
    (if any) holding no video."""
    with Session(runtime.engine) as session:
        assert session.exec(select(ConsentRecord)).all() == []
        rows = session.exec(
            select(ReferencePhoto).where(ReferencePhoto.source == PhotoSource.CONSENT_STILL)
        ).all()
        assert rows == []
        if capture_id is not None:
            capture = session.get(Capture, capture_id)
            assert capture is not None and capture.video is None
            assert capture.status == CaptureStatus.REFUSED


def test_bad_uploads_are_refused_and_audited(
    service: ConsentService,
    smtp_server: Mailbox,
    people: People,
    runtime: Runtime,
    cache: Path,
    tmp_path: Path,
) -> None:
    photo = people.astronaut
    _, token = enroll_and_invite(service, smtp_server, A, enrolled(photo))
    the_script = script()
    files = captures.bona_fide(photo, the_script, cache)
    sessions = CaptureService(service, scripts=lambda: the_script)

    # Another session's id, or none of this invitation's.
    with pytest.raises(CaptureNotFound):
        sessions.submit_capture(token, "cap_nobody", files.webm, "video/webm")
    # Before the script could have been followed: refused as too early.
    opened = sessions.open_capture(token)
    with pytest.raises(ConsentRefused) as early:
        sessions.submit_capture(token, opened.capture_id, files.webm, "video/webm")
    assert early.value.checks == ("too-early",)
    # The session is used: a replay of the same upload finds it gone.
    backdate(service, opened.capture_id, the_script.duration_s + 1)
    with pytest.raises(CaptureGone):
        sessions.submit_capture(token, opened.capture_id, files.webm, "video/webm")
    _refused_without_trace(service, runtime, opened.capture_id)
    # After the deadline.
    late = sessions.open_capture(token)
    backdate(service, late.capture_id, the_script.duration_s + 600)
    with pytest.raises(ConsentRefused) as refused:
        sessions.submit_capture(token, late.capture_id, files.webm, "video/webm")
    assert refused.value.checks == ("too-late",)
    # A foreign type.
    foreign = sessions.open_capture(token)
    backdate(service, foreign.capture_id, the_script.duration_s + 1)
    with pytest.raises(UnsupportedCapture):
        sessions.submit_capture(token, foreign.capture_id, files.webm, "image/png")
    # Every refusal counted against the invitation and audited with its reason.
    refusals = entries(runtime, "consent:consent:refuse")
    assert len(refusals) == 5
    assert all(r["outcome"] == "deny" for r in refusals)
    assert not any("0." in reason for r in refusals for reason in r["reasons"])  # type: ignore[attr-defined]
    # The invitation is spent after max_attempts (5): the link is gone.
    with pytest.raises(LinkGone):
        sessions.open_capture(token)
    _refused_without_trace(service, runtime)


def _truncated(source: Path, path: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def _silent(source: Path, path: Path) -> Path:
    """The capture's picture without its sound: its VP8 packets copied as they are (decoding
    and encoding the 35 s again cost ~15-25 s of CPU and proved nothing more)."""
    with av.open(str(source)) as src, av.open(str(path), "w", format="webm") as out:
        first = src.streams.video[0]
        stream = out.add_stream_from_template(first)
        for packet in src.demux(first):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = stream
            out.mux(packet)
    return path


@pytest.mark.parametrize("damage", ["truncated", "silent", "not-a-video"])
def test_unreadable_captures_are_refused_with_nothing_stored(
    service: ConsentService,
    smtp_server: Mailbox,
    people: People,
    runtime: Runtime,
    cache: Path,
    tmp_path: Path,
    damage: str,
) -> None:
    photo = people.astronaut
    _, token = enroll_and_invite(service, smtp_server, A, enrolled(photo))
    the_script = script()
    files = captures.bona_fide(photo, the_script, cache)
    broken = {
        "truncated": lambda: _truncated(files.webm, tmp_path / "cut.webm"),
        "silent": lambda: _silent(files.webm, tmp_path / "silent.webm"),
        "not-a-video": lambda: _write(tmp_path / "x.webm", b"\x1aE\xdf\xa3" + b"\0" * 4000),
    }[damage]()
    sessions = CaptureService(service, scripts=lambda: the_script)
    opened = sessions.open_capture(token)
    backdate(service, opened.capture_id, the_script.duration_s + 1)
    with pytest.raises((UnreadableMedia, ConsentRefused)) as refused:
        sessions.submit_capture(token, opened.capture_id, broken, "video/webm")
    detail = str(refused.value)
    assert "ffmpeg" not in detail.lower() and "/tmp" not in detail
    # Nor where the file lay (the temporary directory is tmpfs where tests/conftest.py finds one).
    assert tempfile.gettempdir() not in detail and str(broken.parent) not in detail
    _refused_without_trace(service, runtime, opened.capture_id)
    assert entries(runtime, "consent:consent:refuse")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_second_consent_with_the_same_recording_is_a_copy(
    service: ConsentService,
    smtp_server: Mailbox,
    people: People,
    runtime: Runtime,
    cache: Path,
) -> None:
    """Replaying a capture that was accepted once, for a new identity of the same face, is
    refused: it copies an earlier capture (and it follows another session's script)."""
    photo = people.astronaut
    first = consent_person(
        service, smtp_server, A, enrolled=enrolled(photo), live=photo, cache=cache
    )
    _, token = enroll_and_invite(
        service, smtp_server, A, enrolled(photo), email="again@example.org"
    )
    the_script = script()  # the same script as the first consent, so only the copy differs
    with pytest.raises(ConsentRefused) as refused:
        submit(service, token, first.video, the_script)
    assert "copy" in refused.value.checks
