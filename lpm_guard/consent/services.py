"""Consent actions, one method each, shared by the HTTP API and the CLI.

Every method records its own audit event (``consent:…`` tags), refusals included. The audit log
receives ids and SHA-256 digests only, never photos, descriptors or recordings.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import secrets
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from ..access.models import AccountRow, ApplicationRow, ApplicationStatus
from ..access.principals import Principal
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..errors import InvalidRequest, NotFound
from ..keys.encryption import DataCipher
from ..logs import get_logger
from ..revocations import Revocation, RevocationBus
from ..runtime import Runtime
from . import addresses, faces
from .errors import (
    AddressBlocked,
    ConsentError,
    ConsentRefused,
    LinkGone,
    LinkNotFound,
    TooManyInvitations,
    WrongState,
)
from .faces import RGB, FaceEncoder
from .gallery import FaceGallery, Photo, new_id, probes
from .mail import (
    Mailer,
    SmtpMailer,
    decision_message,
    invitation_link,
    invitation_message,
    withdrawal_link,
    withdrawal_message,
)
from .models import (
    AddressBlock,
    Capture,
    CaptureStatus,
    ConsentRecord,
    Identity,
    IdentityKind,
    IdentityStatus,
    Invitation,
    PhotoSource,
    ProtectedFace,
    ProtectedIdentity,
    ReferencePhoto,
    SyntheticOrigin,
    Use,
    as_utc,
    utcnow,
)
from .sealing import seal, unseal
from .settings import ConsentSettings
from .views import (
    GateDecision,
    IdentityView,
    InvitationSent,
    InvitationView,
    ProtectedView,
    RefusalView,
    ReportView,
)

log = get_logger("lpm_guard.consent")

MAX_STILLS = 5
MAX_CONSENT_DAYS = 730
SUBJECT = "subject"  # how the audit log names a subject acting through a capability link


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ConsentService:
    def __init__(
        self,
        runtime: Runtime,
        settings: ConsentSettings | None = None,
        *,
        bus: RevocationBus | None = None,
        mailer: Mailer | None = None,
    ) -> None:
        """``mailer`` sends to subjects (SMTP as the settings say, unless given)."""
        self.engine: Engine = runtime.engine
        self.cipher: DataCipher = runtime.keys.data_cipher()
        self.watermark_secrets = [key.secret for key in runtime.keys.watermark_keys()]
        self.audit = AuditService(runtime.audit)
        self.bus: RevocationBus = bus or runtime.revocations
        self.settings = settings or ConsentSettings()
        self.mailer: Mailer = mailer or SmtpMailer(self.settings)
        self.public_url = (self.settings.public_url or runtime.settings.resolved_public_url).rstrip(
            "/"
        )
        self.encoder: FaceEncoder = faces.encoder_for(self.settings.face_model)
        self.gallery = FaceGallery(self.engine, self.cipher, self.encoder)

    # -- researchers: identities and invitations -------------------------------------------

    def create_identity(
        self,
        principal: Principal,
        display_name: str,
        photos: Sequence[bytes],
        *,
        subject_email: str | None = None,
    ) -> IdentityView:
        """Enroll a real person from reference photos; they must then consent. Invitations go
        to ``subject_email``, the person's own address (an identity without one cannot be
        invited)."""
        actor = principal.actor
        with self._refusals(AuditTag.CONSENT_IDENTITY_CREATE, actor):
            # (0): the person's own address, valid and not blocked by its owner.
            address = None
            if subject_email is not None:
                address = addresses.normalise(subject_email)
                self._refuse_blocked(address)
            # (1): a name and 1..MAX_PHOTOS photos, each with exactly one face.
            name = _clean_name(display_name)
            decoded = self.gallery.photos(photos, require_face=True)
            # (2): every photo shows the same person.
            self.gallery.same_person(decoded)
            # (3): nobody protected.
            self.gallery.refuse_protected(probes(decoded))
        # (4): store the identity and its sealed photos and descriptors in one transaction.
        now = utcnow()
        identity = Identity(
            id=new_id("idn"),
            owner=principal.subject,
            display_name=name,
            kind=IdentityKind.PERSON,
            status=IdentityStatus.AWAITING_CONSENT,
            created_at=now,
            updated_at=now,
        )
        if address is not None:
            identity.subject_email = seal(
                self.cipher, "consent_identities", identity.id, "subject_email", address.encode()
            )
            identity.subject_email_hash = addresses.hashes(self.cipher, address)[0]
        self._store(identity, decoded)
        self.audit.record(
            AuditTag.CONSENT_IDENTITY_CREATE,
            actor,
            objects={"identity": identity.id},
            payload={"photo_sha256": [p.sha256 for p in decoded], "encoder": self.encoder.name},
        )
        return IdentityView.of(identity, len(decoded), self._masked(identity))

    def list_identities(self, principal: Principal) -> list[IdentityView]:
        """A researcher's own identities."""
        return self._list(Identity.owner == principal.subject)

    def list_all_identities(self, status: IdentityStatus | None = None) -> list[IdentityView]:
        """Every identity (reviewers, operators)."""
        return self._list(Identity.status == status if status is not None else None)

    def get_identity(self, principal: Principal, identity_id: str) -> IdentityView:
        """One of the caller's identities; another researcher's is reported as not found."""
        with Session(self.engine) as session:
            row = self._owned(session, principal, identity_id)
            return IdentityView.of(row, self._photo_count(session, row.id), self._masked(row))

    def invite(
        self,
        principal: Principal,
        identity_id: str,
        uses: Sequence[Use],
        *,
        excluded_content: str = "",
        consent_days: int = 365,
    ) -> InvitationSent:
        """Email the subject a single-use link, to their own address. The researcher learns
        that it was sent, and to which (masked) address: never the token or the link."""
        actor = principal.actor
        # (1): valid terms.
        allowed = frozenset(uses)
        if not allowed:
            raise InvalidRequest("name at least one allowed use (offline, live)")
        if not 1 <= consent_days <= MAX_CONSENT_DAYS:
            raise InvalidRequest(f"consent lasts 1 to {MAX_CONSENT_DAYS} days")
        excluded = excluded_content.strip()
        if len(excluded) > 2000:
            raise InvalidRequest("the excluded content is limited to 2000 characters")
        now = utcnow()
        token = secrets.token_urlsafe(32)
        with Session(self.engine) as session:
            # (2): the caller's own person identity, not revoked, with the person's address.
            identity = self._owned(session, principal, identity_id)
            with self._refusals(
                AuditTag.CONSENT_INVITATION_CREATE, actor, {"identity": identity_id}
            ):
                if identity.kind != IdentityKind.PERSON:
                    raise WrongState("synthetic characters are approved by a reviewer, not invited")
                if identity.status == IdentityStatus.REVOKED:
                    raise WrongState("consent for this identity was revoked; enroll anew")
                address = self.subject_address(identity)
                # (3): the person did not ask to be left alone; the day's limits hold.
                self._refuse_blocked(address)
                self._within_limits(session, identity.id, principal.subject, now)
            # (4): the statement names the researcher, the uses, the exclusions and the expiry.
            consent_expires = now + timedelta(days=consent_days)
            researcher = _researcher_name(session, principal.subject)
            statement = _statement(identity, researcher, allowed, excluded, consent_expires)
            invitation = Invitation(
                id=new_id("inv"),
                identity_id=identity.id,
                created_by=principal.subject,
                token_hash=_token_hash(token),
                challenge_phrase="",  # unused since live capture (its script has digits)
                statement=statement,
                allowed_uses=_uses_text(allowed),
                excluded_content=excluded,
                consent_expires_at=consent_expires,
                link_expires_at=now + timedelta(hours=self.settings.link_valid_hours),
                created_at=now,
            )
            session.add(invitation)
            session.commit()
            session.refresh(invitation)
            display_name, invitation_id = identity.display_name, invitation.id
            link_expires = as_utc(invitation.link_expires_at)
        # (5): the link goes to the person; if it cannot be sent, no invitation stays.
        message = invitation_message(
            to=address,
            display_name=display_name,
            researcher=researcher,
            uses=allowed,
            excluded_content=excluded,
            link=invitation_link(self.public_url, token),
            link_expires_at=link_expires,
            consent_expires_at=consent_expires,
            attempts=self.settings.max_attempts,
        )
        try:
            self.mailer.send(message)
        except Exception as exc:
            with Session(self.engine) as session:
                session.execute(delete(Invitation).where(col(Invitation.id) == invitation_id))
                session.commit()
            detail = exc.detail if isinstance(exc, ConsentError) else "the message was not sent"
            self.audit.record(
                AuditTag.CONSENT_INVITATION_CREATE,
                actor,
                outcome="deny",
                objects={"identity": identity_id},
                reasons=[detail],
            )
            raise
        self.audit.record(
            AuditTag.CONSENT_INVITATION_CREATE,
            actor,
            objects={"identity": identity_id, "invitation": invitation_id},
            payload={
                "uses": sorted(allowed),
                "statement_sha256": _sha256(statement.encode()),
                "link_expires_at": link_expires.isoformat(),
            },
        )
        return InvitationSent(
            invitation_id=invitation_id,
            identity_id=identity_id,
            sent_to=addresses.mask(address),
            link_expires_at=link_expires.isoformat(),
            consent_expires_at=consent_expires.isoformat(),
        )

    # -- subjects: through the capability link ------------------------------------------------

    def read_invitation(self, token: str) -> InvitationView:
        """Who asks, for which uses, until when, and how many attempts the link has left."""
        with Session(self.engine) as session:
            invitation, identity = self._usable_invitation(session, token)
            researcher_name = _researcher_name(session, invitation.created_by)
            institution = _institution(session, invitation.created_by)
        self.audit.record(
            AuditTag.CONSENT_INVITATION_OPEN, SUBJECT, objects={"invitation": invitation.id}
        )
        return InvitationView(
            invitation_id=invitation.id,
            identity_display_name=identity.display_name,
            researcher_name=researcher_name,
            institution=institution,
            statement=invitation.statement,
            allowed_uses=sorted(invitation.allowed_uses.split(",")),
            excluded_content=invitation.excluded_content,
            consent_expires_at=as_utc(invitation.consent_expires_at).isoformat(),
            link_expires_at=as_utc(invitation.link_expires_at).isoformat(),
            attempts_left=max(0, self.settings.max_attempts - invitation.attempts),
        )

    def refuse_invitation(
        self, token: str, *, report: bool = False, block: bool = False
    ) -> RefusalView:
        """The subject says no: the link is spent. ``report`` puts the request before the
        reviewers; ``block`` refuses every later invitation to this address."""
        now = utcnow()
        with Session(self.engine) as session:
            # (1): a usable link (a refused one is gone: refusing twice is a 410).
            invitation, identity = self._usable_invitation(session, token)
            # (2): in one transaction: refused, perhaps reported, perhaps the address blocked.
            invitation.refused_at, invitation.reported = now, report
            session.add(invitation)
            blocked = False
            if block and identity.subject_email_hash is not None:
                blocked = self._block(session, identity.subject_email_hash, "refused", now)
            session.commit()
            objects = {"identity": identity.id, "invitation": invitation.id}
        # (3): audited, each part under its own tag.
        self.audit.record(
            AuditTag.CONSENT_INVITATION_REFUSE,
            SUBJECT,
            objects=objects,
            payload={"reported": report, "blocked": blocked},
        )
        if report:
            self.audit.record(AuditTag.CONSENT_INVITATION_REPORT, SUBJECT, objects=objects)
        if blocked:
            self.audit.record(
                AuditTag.CONSENT_ADDRESS_BLOCK, SUBJECT, objects=objects, reasons=["refused"]
            )
        return RefusalView(refused=True, reported=report, blocked=blocked)

    def revoke_by_subject(self, token: str, *, block: bool = False) -> IdentityView:
        """The subject withdraws consent with the withdrawal link emailed to them; ``block``
        refuses every later invitation to their address."""
        with Session(self.engine) as session:
            record = session.exec(
                select(ConsentRecord).where(
                    ConsentRecord.revocation_token_hash == _token_hash(token)
                )
            ).first()
            if record is None:
                raise LinkNotFound("no consent has this revocation link")
            if record.revoked_at is not None:
                raise LinkGone("this consent was already revoked", why="revoked")
            identity_id = record.identity_id
            identity = session.get(Identity, identity_id)
            email_hash = identity.subject_email_hash if identity is not None else None
        view = self._revoke(identity_id, SUBJECT, "revoked by the subject")
        if block and email_hash is not None:
            with Session(self.engine) as session:
                self._block(session, email_hash, "withdrew", utcnow())
                session.commit()
            self.audit.record(
                AuditTag.CONSENT_ADDRESS_BLOCK,
                SUBJECT,
                objects={"identity": identity_id},
                reasons=["withdrew"],
            )
        return view

    # -- reviewers ----------------------------------------------------------------------------

    def revoke_by_reviewer(self, actor: str, identity_id: str, reason: str) -> IdentityView:
        if not reason.strip():
            raise InvalidRequest("give a reason for the revocation")
        return self._revoke(identity_id, actor, reason.strip())

    def enroll_synthetic(
        self,
        principal: Principal,
        display_name: str,
        origin: SyntheticOrigin,
        attestation: str,
        photos: Sequence[bytes],
        uses: Sequence[Use],
        *,
        landmarks: str | None = None,
    ) -> IdentityView:
        """A drawn, 3D or AI-generated character, on the researcher's attestation that it
        depicts no real person; it waits for a reviewer's approval. ``landmarks``: the first
        photo's 68 face points as JSON ``[[x, y], …]`` in its pixels, for a drawn face no
        detector finds (the generator rigs it from them)."""
        actor = principal.actor
        with self._refusals(AuditTag.CONSENT_SYNTHETIC_ENROLL, actor):
            # (1): a name, an attestation, the uses, 1..MAX_PHOTOS photos (drawn faces may show
            # no face dlib finds; none may show more than one).
            name = _clean_name(display_name)
            if len(attestation.strip()) < 20:
                raise InvalidRequest("attest in a sentence that the character depicts no one")
            allowed = frozenset(uses)
            if not allowed:
                raise InvalidRequest("name at least one allowed use (offline, live)")
            decoded = self.gallery.photos(photos, require_face=False)
            points = None
            if landmarks is not None:
                points = _landmarks(landmarks, faces.decode_image(photos[0]), decoded[0].pixels)
            # (2): no face resembles a protected person or any consented identity.
            self.gallery.refuse_protected(probes(decoded))
            self.gallery.refuse_collisions(probes(decoded))
        now = utcnow()
        identity = Identity(
            id=new_id("idn"),
            owner=principal.subject,
            display_name=name,
            kind=IdentityKind.SYNTHETIC,
            status=IdentityStatus.PENDING_REVIEW,
            origin=origin,
            attestation=attestation.strip(),
            allowed_uses=_uses_text(allowed),
            created_at=now,
            updated_at=now,
        )
        self._store(identity, decoded, points)
        self.audit.record(
            AuditTag.CONSENT_SYNTHETIC_ENROLL,
            actor,
            objects={"identity": identity.id},
            payload={
                "origin": str(origin),
                "attestation_sha256": _sha256(attestation.strip().encode()),
                "photo_sha256": [p.sha256 for p in decoded],
                "landmarks": points is not None,
            },
        )
        return IdentityView.of(identity, len(decoded))

    def review_synthetic(
        self, actor: str, identity_id: str, *, approve: bool, reason: str
    ) -> IdentityView:
        tag = AuditTag.CONSENT_SYNTHETIC_APPROVE if approve else AuditTag.CONSENT_SYNTHETIC_REJECT
        if not reason.strip():
            raise InvalidRequest("give a reason for the decision")
        with Session(self.engine) as session:
            identity = session.get(Identity, identity_id)
            if identity is None:
                raise NotFound(f"no identity {identity_id}")
            if identity.status != IdentityStatus.PENDING_REVIEW:
                raise WrongState(f"the identity is {identity.status}, not pending review")
            if approve:
                # (1): the protected list may have grown since enrollment: check again.
                rows = session.exec(
                    select(ReferencePhoto).where(ReferencePhoto.identity_id == identity.id)
                ).all()
                probes = self.gallery.identity_descriptors(rows)
                with self._refusals(tag, actor, {"identity": identity_id}):
                    self.gallery.refuse_protected(probes)
                    self.gallery.refuse_collisions(probes)
            identity.status = IdentityStatus.APPROVED if approve else IdentityStatus.REJECTED
            identity.reviewed_by, identity.review_reason = actor, reason.strip()
            identity.updated_at = utcnow()
            session.add(identity)
            session.commit()
            session.refresh(identity)
            view = IdentityView.of(identity, self._photo_count(session, identity.id))
        self.audit.record(tag, actor, objects={"identity": identity_id}, reasons=[reason.strip()])
        return view

    def add_protected(
        self, actor: str, name: str, reason: str, photos: Sequence[bytes]
    ) -> ProtectedView:
        """Someone who must never be generated (a public figure, a person who asked)."""
        with self._refusals(AuditTag.CONSENT_PROTECTED_CREATE, actor):
            clean = _clean_name(name)
            if not reason.strip():
                raise InvalidRequest("give the reason this person is protected")
            decoded = self.gallery.photos(photos, require_face=True)
            self.gallery.same_person(decoded)
        now = utcnow()
        row = ProtectedIdentity(
            id=new_id("prt"), name=clean, reason=reason.strip(), created_by=actor, created_at=now
        )
        with Session(self.engine) as session:
            session.add(row)
            session.flush()
            for photo in decoded:
                assert photo.sample is not None
                face_id = new_id("pfc")
                session.add(
                    ProtectedFace(
                        id=face_id,
                        protected_id=row.id,
                        sha256=photo.sha256,
                        encoder=self.encoder.name,
                        photo=self.gallery._seal(
                            "consent_protected_faces", face_id, "photo", photo
                        ),
                        descriptor=seal(
                            self.cipher,
                            "consent_protected_faces",
                            face_id,
                            "descriptor",
                            faces.descriptor_bytes(photo.sample.descriptor),
                        ),
                        created_at=now,
                    )
                )
            session.commit()
            session.refresh(row)
        self.audit.record(
            AuditTag.CONSENT_PROTECTED_CREATE,
            actor,
            objects={"protected_identity": row.id},
            payload={"photo_sha256": [p.sha256 for p in decoded]},
        )
        return ProtectedView.of(row, len(decoded))

    def list_protected(self) -> list[ProtectedView]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(ProtectedIdentity).order_by(col(ProtectedIdentity.created_at))
            ).all()
            counts = dict(
                session.exec(
                    select(ProtectedFace.protected_id, func.count()).group_by(
                        col(ProtectedFace.protected_id)
                    )
                ).all()
            )
            return [ProtectedView.of(row, counts.get(row.id, 0)) for row in rows]

    def list_reported(self) -> list[ReportView]:
        """Invitations their subjects refused and reported, newest first (reviewers)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(Invitation, Identity)
                .where(Invitation.identity_id == Identity.id)
                .where(col(Invitation.reported).is_(True))
                .order_by(col(Invitation.refused_at).desc())
            ).all()
            return [
                ReportView(
                    invitation_id=invitation.id,
                    identity_id=identity.id,
                    display_name=identity.display_name,
                    identity_status=identity.status,
                    researcher=invitation.created_by,
                    researcher_name=_researcher_name(session, invitation.created_by),
                    allowed_uses=sorted(invitation.allowed_uses.split(",")),
                    excluded_content=invitation.excluded_content,
                    invited_at=as_utc(invitation.created_at).isoformat(),
                    refused_at=(
                        as_utc(invitation.refused_at).isoformat() if invitation.refused_at else None
                    ),
                )
                for invitation, identity in rows
            ]

    # -- mail to the subject ------------------------------------------------------------------

    def subject_address(self, identity: Identity) -> str:
        """The person's own address, unsealed; ``WrongState`` when the identity has none."""
        if identity.subject_email is None:
            raise WrongState(
                "this identity has no address for its subject: enroll the person again with "
                "their email address"
            )
        sealed = identity.subject_email
        return unseal(
            self.cipher, "consent_identities", identity.id, "subject_email", sealed
        ).decode()

    def send_withdrawal_link(self, identity_id: str, token: str) -> bool:
        """Email the subject the link that withdraws the consent recorded with ``token`` (its
        ``ConsentRecord.revocation_token``); the token goes nowhere else. Called once the
        consent is stored, so a mail failure does not undo it: logged, and False returned
        (the subject can still withdraw through the platform's reviewers)."""
        try:
            with Session(self.engine) as session:
                record = session.exec(
                    select(ConsentRecord).where(
                        ConsentRecord.revocation_token_hash == _token_hash(token)
                    )
                ).first()
                identity = session.get(Identity, identity_id)
                if record is None or identity is None or record.identity_id != identity_id:
                    raise LinkNotFound("no consent of this identity has this withdrawal link")
                invitation = session.get(Invitation, record.invitation_id)
                researcher = (
                    _researcher_name(session, invitation.created_by)
                    if invitation is not None
                    else _researcher_name(session, identity.owner)
                )
                message = withdrawal_message(
                    to=self.subject_address(identity),
                    display_name=identity.display_name,
                    researcher=researcher,
                    uses=[Use(u) for u in record.allowed_uses.split(",") if u],
                    consent_expires_at=record.expires_at,
                    link=withdrawal_link(self.public_url, token),
                )
            self.mailer.send(message)
        except ConsentError as exc:
            log.warning("withdrawal link not sent", identity=identity_id, error=exc.slug)
            return False
        return True

    def send_decision(self, identity: Identity, *, approved: bool) -> bool:
        """Tell the subject a reviewer's decision on their consent. Best effort: the decision
        stands whether or not the message goes (False when it did not)."""
        try:
            with Session(self.engine) as session:
                researcher = _researcher_name(session, identity.owner)
            message = decision_message(
                to=self.subject_address(identity), researcher=researcher, approved=approved
            )
            self.mailer.send(message)
        except ConsentError:
            return False
        return True

    # -- the gate -----------------------------------------------------------------------------

    def _store(
        self, identity: Identity, photos: Sequence[Photo], landmarks: str | None = None
    ) -> None:
        """A new identity and its reference photos (``landmarks``: the first one's), in one
        transaction."""
        with Session(self.engine) as session:
            session.add(identity)
            session.flush()
            for i, photo in enumerate(photos):
                row = self.gallery.reference_row(identity.id, photo, PhotoSource.REFERENCE)
                row.landmarks = landmarks if i == 0 else None
                session.add(row)
            session.commit()
            session.refresh(identity)

    def enrolled_photos(self, subject: str, identity_id: str) -> list[RGB]:
        """The identity's reference photos, decrypted, oldest first: what the generator rigs.
        Only the owner's, and only for an identity the gate has just allowed (the caller runs
        ``check_request`` first; this reads, it decides nothing)."""
        with Session(self.engine) as session:
            identity = session.get(Identity, identity_id)
            if identity is None or identity.owner != subject:
                raise NotFound("no such identity among the caller's")
            rows = session.exec(
                select(ReferencePhoto)
                .where(ReferencePhoto.identity_id == identity_id)
                .where(ReferencePhoto.source == PhotoSource.REFERENCE)
                .order_by(col(ReferencePhoto.created_at))
            ).all()
            return [
                faces.decode_png(
                    unseal(self.cipher, "consent_reference_photos", row.id, "photo", row.photo)
                )
                for row in rows
            ]

    def enrolled_landmarks(self, subject: str, identity_id: str) -> list[list[float]] | None:
        """The explicit landmarks of the identity's first reference photo (the one rigged), or
        None where the face is to be detected. Reads, decides nothing, like ``enrolled_photos``."""
        with Session(self.engine) as session:
            identity = session.get(Identity, identity_id)
            if identity is None or identity.owner != subject:
                raise NotFound("no such identity among the caller's")
            row = session.exec(
                select(ReferencePhoto)
                .where(ReferencePhoto.identity_id == identity_id)
                .where(ReferencePhoto.source == PhotoSource.REFERENCE)
                .order_by(col(ReferencePhoto.created_at))
            ).first()
        if row is None or row.landmarks is None:
            return None
        points: list[list[float]] = json.loads(row.landmarks)
        return points

    def check_request(
        self, subject: str, identity_id: str, use: Use, references: Sequence[RGB]
    ) -> GateDecision:
        """May ``subject`` generate ``identity_id`` for ``use`` from these reference images?

        Denied, with every reason found, unless: the identity is the caller's; its consent (or
        a reviewer's approval, for a synthetic character) is in force, unexpired, and covers
        the use; every reference's face matches the identity; no face matches a protected
        identity. The decision is audited either way.
        """
        reasons: list[str] = []
        now = utcnow()
        pictures = [faces.shrink(image) for image in references]
        digests = [faces.pixels_sha256(picture) for picture in pictures]
        found = [faces.faces_in(picture, self.encoder) for picture in pictures]
        with Session(self.engine) as session:
            identity = session.get(Identity, identity_id)
            # (1): the identity exists and belongs to the caller.
            if identity is None or identity.owner != subject:
                reasons.append("no such identity among the caller's")
            else:
                # (2): consent (or approval) is in force.
                wanted = (
                    IdentityStatus.CONSENTED
                    if identity.kind == IdentityKind.PERSON
                    else IdentityStatus.APPROVED
                )
                if identity.status == IdentityStatus.AWAITING_REVIEW:
                    reasons.append("consent awaits a reviewer's approval")
                elif identity.status != wanted:
                    reasons.append(f"the identity is {identity.status}, not {wanted}")
                # (3): unexpired.
                if identity.expires_at is not None and as_utc(identity.expires_at) <= now:
                    reasons.append("consent expired")
                # (4): covering the use.
                if use not in identity.uses():
                    reasons.append(f"consent does not cover {use} generation")
                # (5): every reference shows the identity's face, and only it: for a person,
                # the face of their live capture, not the photos the researcher supplied.
                if not references:
                    reasons.append("no reference image given")
                if not reasons:
                    reasons += self.gallery.references_match(session, identity, found, digests)
        # (6): no face in any reference matches a protected identity.
        reasons += self.gallery.protected_matches(
            [s.descriptor for faces_ in found for s in faces_]
        )
        receipt = self.audit.record(
            AuditTag.CONSENT_REQUEST_CHECK,
            subject,
            outcome="deny" if reasons else "allow",
            objects={"identity": identity_id},
            reasons=reasons,
            payload={"use": str(use), "reference_sha256": digests},
        )
        return GateDecision(
            allowed=not reasons,
            identity_id=identity_id,
            reasons=tuple(reasons),
            audit_index=receipt.index,
        )

    # -- internals ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _refusals(
        self,
        tag: AuditTag,
        actor: str,
        objects: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> Iterator[None]:
        """Audit a refusal (outcome ``deny``) and count it against an invitation's attempts."""
        try:
            yield
        except (ConsentError, InvalidRequest) as exc:
            if token is not None:
                self._count_attempt(token)
            reasons = list(exc.reasons) if isinstance(exc, ConsentRefused) else [exc.detail]
            self.audit.record(tag, actor, outcome="deny", objects=objects, reasons=reasons)
            raise

    def _list(self, where: object) -> list[IdentityView]:
        with Session(self.engine) as session:
            query = select(Identity).order_by(col(Identity.created_at))
            if where is not None:
                query = query.where(where)  # type: ignore[arg-type]
            rows = session.exec(query).all()
            counts = dict(
                session.exec(
                    select(ReferencePhoto.identity_id, func.count()).group_by(
                        col(ReferencePhoto.identity_id)
                    )
                ).all()
            )
            return [IdentityView.of(row, counts.get(row.id, 0), self._masked(row)) for row in rows]

    def _masked(self, identity: Identity) -> str | None:
        if identity.subject_email is None:
            return None
        return addresses.mask(self.subject_address(identity))

    def _refuse_blocked(self, address: str) -> None:
        """``AddressBlocked`` when the owner of ``address`` asked for no more invitations (its
        keyed hash under any data key, so a block survives a key rotation)."""
        with Session(self.engine) as session:
            block = session.exec(
                select(AddressBlock).where(
                    col(AddressBlock.email_hash).in_(addresses.hashes(self.cipher, address))
                )
            ).first()
        if block is not None:  # why (refused or withdrew) is theirs: not told
            raise AddressBlocked(
                "the person at this address asked not to receive invitations from this platform"
            )

    def _within_limits(
        self, session: Session, identity_id: str, researcher: str, now: datetime
    ) -> None:
        """Invitations in the last 24 hours: per identity, then per researcher."""
        since = now - timedelta(days=1)
        for where, limit, whose in (
            (
                Invitation.identity_id == identity_id,
                self.settings.invitations_per_identity_per_day,
                "this identity",
            ),
            (
                Invitation.created_by == researcher,
                self.settings.invitations_per_researcher_per_day,
                "you",
            ),
        ):
            sent = session.exec(
                select(func.count())
                .select_from(Invitation)
                .where(where)
                .where(col(Invitation.created_at) >= since)
            ).one()
            if sent >= limit:
                raise TooManyInvitations(
                    f"{whose} received {sent} invitations in the last 24 hours; the limit is "
                    f"{limit} a day",
                    limit=limit,
                )

    @staticmethod
    def _block(session: Session, email_hash: str, reason: str, now: datetime) -> bool:
        """Add a block for ``email_hash`` unless one exists (the first reason stays)."""
        if session.get(AddressBlock, email_hash) is None:
            session.add(AddressBlock(email_hash=email_hash, created_at=now, reason=reason))
        return True

    def _owned(self, session: Session, principal: Principal, identity_id: str) -> Identity:
        identity = session.get(Identity, identity_id)
        if identity is None or identity.owner != principal.subject:
            raise NotFound(f"no identity {identity_id}")
        return identity

    @staticmethod
    def _photo_count(session: Session, identity_id: str) -> int:
        return int(
            session.exec(
                select(func.count()).where(ReferencePhoto.identity_id == identity_id)
            ).one()
        )

    def _invitation_id(self, token: str) -> str:
        with Session(self.engine) as session:
            invitation, _ = self._usable_invitation(session, token)
            return invitation.id

    def _usable_invitation(self, session: Session, token: str) -> tuple[Invitation, Identity]:
        # (1): a link we issued (compared by hash: the token itself is never stored).
        invitation = session.exec(
            select(Invitation).where(Invitation.token_hash == _token_hash(token))
        ).first()
        if invitation is None:
            raise LinkNotFound("no invitation has this link")
        # (2): not used, not spent on failed attempts, not expired.
        if invitation.used_at is not None:
            raise LinkGone("this invitation link was already used", why="used")
        if invitation.refused_at is not None:
            raise LinkGone("this invitation was refused", why="refused")
        if invitation.attempts >= self.settings.max_attempts:
            raise LinkGone(
                "this invitation link was spent on failed attempts; ask for a new one", why="spent"
            )
        if as_utc(invitation.link_expires_at) <= utcnow():
            raise LinkGone("this invitation link has expired", why="expired")
        # (3): its identity still exists and was not revoked.
        identity = session.get(Identity, invitation.identity_id)
        if identity is None or identity.status == IdentityStatus.REVOKED:
            raise LinkGone("this identity's consent was revoked", why="revoked")
        return invitation, identity

    def _count_attempt(self, token: str) -> None:
        with Session(self.engine) as session:
            invitation = session.exec(
                select(Invitation).where(Invitation.token_hash == _token_hash(token))
            ).first()
            if invitation is not None and invitation.used_at is None:
                invitation.attempts += 1
                session.add(invitation)
                session.commit()

    def _revoke(self, identity_id: str, actor: str, reason: str) -> IdentityView:
        now = utcnow()
        with Session(self.engine) as session:
            identity = session.get(Identity, identity_id)
            if identity is None:
                raise NotFound(f"no identity {identity_id}")
            if identity.status == IdentityStatus.REVOKED:
                raise WrongState("consent for this identity was already revoked")
            # (1): hashes of what is about to be deleted, for the audit log.
            photos = session.exec(
                select(ReferencePhoto).where(ReferencePhoto.identity_id == identity_id)
            ).all()
            deleted = sorted(photo.sha256 for photo in photos)
            # (2): in one transaction: the identity is revoked, its consent records closed and
            # their evidence deleted, open invitations spent, photos and descriptors deleted.
            identity.status = IdentityStatus.REVOKED
            identity.updated_at = now
            identity.subject_email = None  # nothing more is sent; a block keeps only the hash
            session.add(identity)
            for record in session.exec(
                select(ConsentRecord).where(ConsentRecord.identity_id == identity_id)
            ).all():
                if record.revoked_at is None:
                    record.revoked_at, record.revoked_by = now, actor
                record.evidence = None
                record.transcript = None
                session.add(record)
            for invitation in session.exec(
                select(Invitation).where(Invitation.identity_id == identity_id)
            ).all():
                if invitation.used_at is None:
                    invitation.used_at = now
                    session.add(invitation)
            session.execute(
                delete(ReferencePhoto).where(col(ReferencePhoto.identity_id) == identity_id)
            )
            # Capture recordings and their hashes are deleted; open sessions expire.
            for capture in session.exec(
                select(Capture).where(Capture.identity_id == identity_id)
            ).all():
                capture.video, capture.hashes = None, None
                if capture.status in (CaptureStatus.OPEN, CaptureStatus.AWAITING_REVIEW):
                    capture.status = CaptureStatus.EXPIRED
                session.add(capture)
            session.commit()
            session.refresh(identity)
            view = IdentityView.of(identity, 0)
        # (3): audited with hashes only, then announced to running sessions.
        self.audit.record(
            AuditTag.CONSENT_CONSENT_REVOKE,
            actor,
            objects={"identity": identity_id},
            reasons=[reason],
            payload={"deleted_photo_sha256": deleted},
        )
        self.bus.publish(Revocation(identity_id=identity_id, revoked_at=now, revoked_by=actor))
        return view


def _clean_name(name: str) -> str:
    clean = " ".join(name.split())
    if not 1 <= len(clean) <= 200:
        raise InvalidRequest("a name is 1 to 200 characters")
    return clean


def _researcher_name(session: Session, subject: str) -> str:
    """How a subject knows the researcher: the account's name and the institution of its
    approved application ("Ada Lovelace, University of London"); the account id when the
    account is not in this database (an external authenticator)."""
    account = session.get(AccountRow, subject)
    if account is None:
        return subject
    institution = _institution(session, subject)
    return f"{account.name}, {institution}" if institution else account.name


def _institution(session: Session, subject: str) -> str | None:
    """The institution of the account's approved application, if any."""
    return session.exec(
        select(ApplicationRow.institution)
        .where(ApplicationRow.account_id == subject)
        .where(ApplicationRow.status == ApplicationStatus.APPROVED)
        .order_by(col(ApplicationRow.submitted_at).desc())
    ).first()


def _uses_text(uses: frozenset[Use]) -> str:
    return ",".join(sorted(uses))


def _statement(
    identity: Identity,
    researcher: str,
    uses: frozenset[Use],
    excluded: str,
    expires: datetime,
) -> str:
    described = {Use.OFFLINE: "offline video clips", Use.LIVE: "live, real-time video"}
    allowed = " and ".join(described[use] for use in sorted(uses))
    exclusions = excluded or "nothing beyond the platform's content policy"
    return (
        f'I am the person shown in the photos enrolled as "{identity.display_name}". '
        f"I agree that the researcher {researcher} may use lpm-guard to generate {allowed} "
        f"of my face and voice-driven expressions. Excluded content: {exclusions}. "
        f"This consent ends on {expires:%d %B %Y} and I can revoke it at any time with my "
        "revocation link. Every video made carries a watermark and a signed record."
    )


LANDMARKS = 68


def _landmarks(text: str, original: RGB, stored: RGB) -> str:
    """Explicit landmarks checked (68 finite [x, y] pairs inside the uploaded picture) and
    scaled to the stored picture's pixels, as canonical JSON. Hand-written: the generator's
    parser is the generator's, and consent does not import it."""
    try:
        value = json.loads(text)
        points = np.asarray(value["landmarks"] if isinstance(value, dict) else value, float)
    except (ValueError, KeyError, TypeError):
        raise InvalidRequest("landmarks must be JSON: a list of 68 [x, y] pairs") from None
    if points.shape != (LANDMARKS, 2) or not np.isfinite(points).all():
        raise InvalidRequest(f"landmarks must be 68 [x, y] pairs, not shape {points.shape}")
    height, width = original.shape[:2]
    if (points < 0).any() or (points[:, 0] >= width).any() or (points[:, 1] >= height).any():
        raise InvalidRequest("every landmark must lie inside the first photo")
    scale = stored.shape[1] / width
    return json.dumps([[round(x * scale, 2), round(y * scale, 2)] for x, y in points.tolist()])


def _pack(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()
