"""The consent services: the request-time check, revocation, synthetic characters, protected
identities, and our own watermark refused as consent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from lpm_guard.generator import load_audio
from sqlmodel import Session, select

from lpm_guard.consent.errors import (
    ConsentRefused,
    IdentityCollision,
    LinkGone,
    ProtectedIdentityMatch,
    WrongState,
)
from lpm_guard.consent.models import (
    ConsentRecord,
    Identity,
    IdentityStatus,
    ReferencePhoto,
    Use,
)
from lpm_guard.consent.notifications import Revocation
from lpm_guard.consent.services import ConsentService
from lpm_guard.consent.views import ConsentReceipt
from lpm_guard.provenance.watermark import Watermarker
from lpm_guard.runtime import Runtime
from tests.mailbox import Mailbox

from .conftest import PRINCIPALS, People, camera_still, invite_and_read_token, png, saying

A = PRINCIPALS["token-researcher-a"]
B = PRINCIPALS["token-researcher-b"]
REVIEWER = "reviewer-1"


def consented(
    service: ConsentService,
    photo: np.ndarray,
    tmp_path: Path,
    uses: tuple[Use, ...] = (Use.OFFLINE, Use.LIVE),
) -> tuple[str, ConsentReceipt]:
    identity = service.create_identity(A, "Subject", [png(photo)])
    link = service.invite(A, identity.id, uses)
    phrase = service.read_invitation(link.token).challenge_phrase
    receipt = service.record_consent(link.token, [camera_still(photo)], saying(phrase, tmp_path))
    return identity.id, receipt


def entries(runtime: Runtime) -> list[dict[str, object]]:
    size = runtime.audit.size()
    return [json.loads(runtime.audit.entry(i).body) for i in range(size)]


def test_the_request_check_allows_consented_uses_of_matching_references(
    service: ConsentService, people: People, tmp_path: Path, runtime: Runtime
) -> None:
    identity_id, _ = consented(service, people.t1[0], tmp_path, uses=(Use.OFFLINE,))
    reference = people.t1[0][::-1, ::-1].copy()[::-1, ::-1]  # another copy of the same picture
    allowed = service.check_request(A.subject, identity_id, Use.OFFLINE, [reference])
    assert allowed.allowed and allowed.reasons == ()
    # Not covering the use; another researcher; a reference of another person; a group.
    live = service.check_request(A.subject, identity_id, Use.LIVE, [reference])
    assert not live.allowed and live.reasons == ("consent does not cover live generation",)
    theirs = service.check_request(B.subject, identity_id, Use.OFFLINE, [reference])
    assert not theirs.allowed and "caller's" in theirs.reasons[0]
    other = service.check_request(A.subject, identity_id, Use.OFFLINE, [people.t1[2]])
    assert not other.allowed and "does not match the identity" in other.reasons[0]
    group = service.check_request(A.subject, identity_id, Use.OFFLINE, [people.group])
    assert not group.allowed
    # Once the consent's term is over, nothing is allowed.
    with Session(runtime.engine) as session:
        identity = session.get(Identity, identity_id)
        assert identity is not None
        identity.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(identity)
        session.commit()
    expired = service.check_request(A.subject, identity_id, Use.OFFLINE, [reference])
    assert expired.reasons == ("consent expired",)
    # Every decision is in the audit log, as allow or deny, with its reasons.
    checks = [e for e in entries(runtime) if e["action"] == "consent:request:check"]
    assert [e["outcome"] for e in checks] == ["allow", "deny", "deny", "deny", "deny", "deny"]
    assert checks[-1]["reasons"] == ["consent expired"]
    assert allowed.audit_index == checks[0]["index"]


def test_revocation_by_the_subject_denies_the_next_request_and_notifies(
    service: ConsentService, people: People, tmp_path: Path, runtime: Runtime
) -> None:
    identity_id, receipt = consented(service, people.t1[1], tmp_path)
    heard: list[Revocation] = []
    others: list[Revocation] = []
    runtime.revocations.subscribe(heard.append, identity_id)
    runtime.revocations.subscribe(others.append, "idn_someone_else")
    assert service.check_request(A.subject, identity_id, Use.LIVE, [people.t1[1]]).allowed
    with Session(runtime.engine) as session:
        hashes = sorted(p.sha256 for p in session.exec(select(ReferencePhoto)).all())

    service.revoke_by_subject(receipt.revocation_token)

    decision = service.check_request(A.subject, identity_id, Use.LIVE, [people.t1[1]])
    assert not decision.allowed
    assert "the identity is revoked, not consented" in decision.reasons
    assert [r.identity_id for r in heard] == [identity_id] and heard[0].revoked_by == "subject"
    assert others == []
    # Photos, descriptors and the captured evidence are gone; the audit log keeps hashes.
    with Session(runtime.engine) as session:
        assert session.exec(select(ReferencePhoto)).all() == []
        record = session.exec(select(ConsentRecord)).one()
        assert record.evidence is None and record.revoked_at is not None
    revoked = next(e for e in entries(runtime) if e["action"] == "consent:consent:revoke")
    assert revoked["payload"] == {"deleted_photo_sha256": hashes}  # type: ignore[comparison-overlap]
    # The revocation link works once.
    with pytest.raises(LinkGone):
        service.revoke_by_subject(receipt.revocation_token)


def test_a_reviewer_revokes_and_open_invitations_die(
    service: ConsentService, people: People, runtime: Runtime, smtp_server: Mailbox
) -> None:
    identity = service.create_identity(
        A, "Subject", [png(people.t1[5])], subject_email="subject@example.org"
    )
    _, token = invite_and_read_token(service, smtp_server, A, identity.id, [Use.LIVE])
    heard: list[Revocation] = []
    runtime.revocations.subscribe(heard.append)
    service.revoke_by_reviewer(REVIEWER, identity.id, "the subject phoned us")
    assert heard[0].revoked_by == REVIEWER
    with pytest.raises(LinkGone):
        service.read_invitation(token)
    with pytest.raises(WrongState):
        service.invite(A, identity.id, [Use.LIVE])


def test_a_capture_carrying_our_watermark_is_refused(
    service: ConsentService, people: People, tmp_path: Path, runtime: Runtime
) -> None:
    photo = people.astronaut
    identity = service.create_identity(A, "Astronaut", [png(photo)])
    link = service.invite(A, identity.id, [Use.OFFLINE])
    phrase = service.read_invitation(link.token).challenge_phrase
    height, width = photo.shape[:2]
    secret = runtime.keys.watermark_key().secret
    marked = Watermarker(secret, 12345, width=width, height=height).mark(photo)
    with pytest.raises(ConsentRefused) as refused:
        service.record_consent(link.token, [png(marked)], saying(phrase, tmp_path))
    assert refused.value.reasons == ("the capture carries an lpm-guard watermark: generated video",)
    assert refused.value.checks == ("watermarked",)
    # The same capture unmarked passes: the refusal was the watermark's.
    receipt = service.record_consent(link.token, [png(photo)], saying(phrase, tmp_path))
    assert receipt.identity_id == identity.id


def _video(frames: list[np.ndarray], wav: bytes, path: Path) -> bytes:
    """An MP4 with H.264 frames at 10 fps and the recording as AAC."""
    audio = load_audio(_write(path.with_suffix(".wav"), wav), 48_000)
    seconds = audio.size / 48_000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=10)
        video.width, video.height = frames[0].shape[1], frames[0].shape[0]
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=48_000)
        sound.layout = "mono"
        for i in range(int(seconds * 10)):
            frame = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        chunk = 1024
        for start in range(0, audio.size, chunk):
            piece = audio[start : start + chunk].reshape(1, -1).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
            frame.sample_rate = 48_000
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    return path.read_bytes()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.slow
def test_consent_from_one_video_file(
    service: ConsentService, people: People, tmp_path: Path
) -> None:
    photo = people.astronaut[:, :, :].copy()
    identity = service.create_identity(A, "Astronaut", [png(photo)])
    link = service.invite(A, identity.id, [Use.OFFLINE])
    phrase = service.read_invitation(link.token).challenge_phrase
    # The wrong person on video is refused; the right one accepted.
    wrong = _video([people.t1[0][:256, :256].copy()], saying(phrase, tmp_path), tmp_path / "w.mp4")
    with pytest.raises(ConsentRefused):
        service.record_consent_video(link.token, wrong)
    # Our own output, re-encoded as H.264, is refused for its watermark.
    height, width = photo.shape[:2]
    secret = service.watermark_secrets[0]
    marked = Watermarker(secret, 7, width=width, height=height).mark(photo)
    ours = _video([marked], saying(phrase, tmp_path), tmp_path / "ours.mp4")
    with pytest.raises(ConsentRefused) as refused:
        service.record_consent_video(link.token, ours)
    assert refused.value.reasons == ("the capture carries an lpm-guard watermark: generated video",)
    video = _video([photo], saying(phrase, tmp_path), tmp_path / "capture.mp4")
    receipt = service.record_consent_video(link.token, video)
    assert service.get_identity(A, identity.id).status == IdentityStatus.CONSENTED
    assert receipt.expires_at is not None


def test_synthetic_characters_need_a_reviewer_and_must_resemble_nobody(
    service: ConsentService, people: People, tmp_path: Path
) -> None:
    attestation = "This character was drawn by our lab's artist and depicts no real person."
    drawn = people.t1[4]  # stands in for an AI-generated face nobody consented for
    character = service.enroll_synthetic(
        A,
        "Avatar",
        "ai-generated",
        attestation,
        [png(drawn)],
        [Use.LIVE],  # type: ignore[arg-type]
    )
    assert character.status == IdentityStatus.PENDING_REVIEW
    pending = service.check_request(A.subject, character.id, Use.LIVE, [drawn])
    assert not pending.allowed and "pending_review" in pending.reasons[0]
    service.review_synthetic(REVIEWER, character.id, approve=True, reason="clearly synthetic")
    assert service.check_request(A.subject, character.id, Use.LIVE, [drawn]).allowed
    # A "synthetic" character that is a consented person's face is refused.
    identity_id, _ = consented(service, people.t1[0], tmp_path)
    with pytest.raises(IdentityCollision):
        service.enroll_synthetic(
            A,
            "Lookalike",
            "drawn",
            attestation,
            [png(people.t1[0])],
            [Use.LIVE],  # type: ignore[arg-type]
        )
    assert identity_id


def test_protected_identities_are_refused_everywhere(
    service: ConsentService, people: People, tmp_path: Path
) -> None:
    identity_id, _ = consented(service, people.t1[2], tmp_path)
    assert service.check_request(A.subject, identity_id, Use.LIVE, [people.t1[2]]).allowed
    protected = service.add_protected(
        REVIEWER, "A public figure", "public figure", [png(people.t1[2])]
    )
    assert [p.id for p in service.list_protected()] == [protected.id]
    # Checked on every request, even for an identity consented before the protection...
    decision = service.check_request(A.subject, identity_id, Use.LIVE, [people.t1[2]])
    assert not decision.allowed
    assert decision.reasons == (f"a face matches protected identity {protected.id}",)
    # ...and on every enrollment.
    with pytest.raises(ProtectedIdentityMatch):
        service.create_identity(B, "Again", [png(people.t1[2])])
    with pytest.raises(ProtectedIdentityMatch):
        service.enroll_synthetic(
            B,
            "Cartoon",
            "drawn",  # type: ignore[arg-type]
            "A drawing made for the study that depicts nobody in particular.",
            [png(people.t1[2])],
            [Use.LIVE],
        )
    # Other people are unaffected.
    assert service.create_identity(B, "Someone else", [png(people.t1[5])]).status == (
        IdentityStatus.AWAITING_CONSENT
    )
