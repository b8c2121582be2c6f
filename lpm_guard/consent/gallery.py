"""The faces the consent services compare: uploads decoded and described, and the stored
galleries (identities' photos, protected people) they are compared with.

Descriptors are stored sealed beside the photo they came from; when the operator changes the
face encoder (installs an ArcFace model), a stored photo is described again with the new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from ..errors import InvalidRequest
from ..keys.encryption import DataCipher
from . import faces
from .errors import (
    FaceMismatch,
    IdentityCollision,
    MultipleFaces,
    ProtectedIdentityMatch,
)
from .faces import RGB, Descriptor, FaceEncoder, FaceSample
from .models import (
    Identity,
    IdentityKind,
    IdentityStatus,
    PhotoSource,
    ProtectedFace,
    ProtectedIdentity,
    ReferencePhoto,
    utcnow,
)
from .sealing import seal, unseal

MAX_PHOTOS = 10


@dataclass(frozen=True)
class Photo:
    """A decoded upload: the working-size pixels, their digest, and their one face (if any)."""

    pixels: RGB
    sha256: str
    sample: FaceSample | None


@dataclass(frozen=True)
class _Gallery:
    """Descriptors of one protected person, decrypted for one comparison."""

    key: str
    name: str
    descriptors: list[Descriptor]


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def probes(photos: Sequence[Photo]) -> list[Descriptor]:
    return [photo.sample.descriptor for photo in photos if photo.sample is not None]


class FaceGallery:
    def __init__(self, engine: Engine, cipher: DataCipher, encoder: FaceEncoder) -> None:
        self.engine, self.cipher, self.encoder = engine, cipher, encoder

    def photos(self, uploads: Sequence[bytes], *, require_face: bool) -> list[Photo]:
        if not 1 <= len(uploads) <= MAX_PHOTOS:
            raise InvalidRequest(f"send 1 to {MAX_PHOTOS} photos")
        return [
            self.photo(faces.shrink(faces.decode_image(data)), require_face, f"photo {i + 1}")
            for i, data in enumerate(uploads)
        ]

    def photo(self, pixels: RGB, require_face: bool, what: str = "the image") -> Photo:
        digest = faces.pixels_sha256(pixels)
        if require_face:
            return Photo(pixels, digest, faces.one_face(pixels, self.encoder, what))
        found = faces.faces_in(pixels, self.encoder)
        if len(found) > 1:
            raise MultipleFaces(f"{what} shows {len(found)} faces", faces=len(found))
        return Photo(pixels, digest, found[0] if found else None)

    def same_person(self, photos: Sequence[Photo]) -> None:
        samples = [p.sample for p in photos if p.sample is not None]
        for i, a in enumerate(samples):
            for j in range(i):
                distance = self.encoder.distance(a.descriptor, samples[j].descriptor)
                if distance > self.encoder.match_threshold:
                    raise FaceMismatch(
                        f"photo {i + 1} shows a different person from photo {j + 1}",
                        distance=round(distance, 3),
                    )

    def _protected_galleries(self, session: Session) -> list[_Gallery]:
        galleries: dict[str, _Gallery] = {}
        rows = session.exec(
            select(ProtectedFace, ProtectedIdentity).join(
                ProtectedIdentity,
                col(ProtectedIdentity.id) == col(ProtectedFace.protected_id),
            )
        ).all()
        for face, person in rows:
            gallery = galleries.setdefault(person.id, _Gallery(person.id, person.name, []))
            gallery.descriptors.append(
                self.descriptor("consent_protected_faces", face.id, face.encoder, face)
            )
        return list(galleries.values())

    def protected_matches(self, probes: Sequence[Descriptor]) -> list[str]:
        if not probes:
            return []
        with Session(self.engine) as session:
            galleries = self._protected_galleries(session)
        found = []
        for gallery in galleries:
            for probe in probes:
                distance = faces.nearest(self.encoder, probe, gallery.descriptors)
                if distance <= self.encoder.protected_threshold:
                    found.append(f"a face matches protected identity {gallery.key}")
                    break
        return found

    def refuse_protected(self, probes: Sequence[Descriptor]) -> None:
        matches = self.protected_matches(probes)
        if matches:
            raise ProtectedIdentityMatch("; ".join(matches))

    def refuse_collisions(self, probes: Sequence[Descriptor]) -> None:
        """A synthetic character must not resemble any consented person."""
        if not probes:
            return
        with Session(self.engine) as session:
            rows = session.exec(
                select(ReferencePhoto)
                .join(Identity, col(Identity.id) == col(ReferencePhoto.identity_id))
                .where(Identity.kind == IdentityKind.PERSON)
                .where(col(Identity.status).in_([IdentityStatus.CONSENTED]))
            ).all()
            for row in rows:
                stored = self.descriptor("consent_reference_photos", row.id, row.encoder, row)
                if not stored.size:
                    continue
                for probe in probes:
                    if self.encoder.distance(probe, stored) <= self.encoder.protected_threshold:
                        raise IdentityCollision(
                            "a face matches a consented person's identity",
                            identity=row.identity_id,
                        )

    def references_match(
        self,
        session: Session,
        identity: Identity,
        found: Sequence[Sequence[FaceSample]],
        digests: Sequence[str],
    ) -> list[str]:
        rows = session.exec(
            select(ReferencePhoto).where(ReferencePhoto.identity_id == identity.id)
        ).all()
        enrolled = {row.sha256 for row in rows}
        if identity.kind == IdentityKind.PERSON:
            # A person's references are compared with the frames of their own live capture:
            # resembling the researcher's photos proves nothing about who consented.
            rows = [row for row in rows if row.source == PhotoSource.CONSENT_STILL]
        gallery = self.identity_descriptors(rows)
        reasons = []
        for i, (samples, digest) in enumerate(zip(found, digests, strict=True)):
            if not samples:
                # A drawn character's face may be invisible to dlib: then only an enrolled,
                # reviewed picture itself is accepted.
                if identity.kind == IdentityKind.SYNTHETIC and digest in enrolled:
                    continue
                reasons.append(f"reference {i + 1}: no face found")
                continue
            for sample in samples:
                distance = faces.nearest(self.encoder, sample.descriptor, gallery)
                if distance > self.encoder.match_threshold:
                    reasons.append(
                        f"reference {i + 1}: a face does not match the identity "
                        f"(distance {distance:.2f} > {self.encoder.match_threshold})"
                    )
                    break
        return reasons

    def identity_descriptors(self, rows: Sequence[ReferencePhoto]) -> list[Descriptor]:
        gallery = []
        for row in rows:
            descriptor = self.descriptor("consent_reference_photos", row.id, row.encoder, row)
            if descriptor.size:
                gallery.append(descriptor)
        return gallery

    def descriptor(
        self, table: str, row_id: str, encoder: str, row: ReferencePhoto | ProtectedFace
    ) -> Descriptor:
        """The stored descriptor; recomputed from the stored photo if the encoder changed."""
        if encoder == self.encoder.name:
            return faces.descriptor_from_bytes(
                unseal(self.cipher, table, row_id, "descriptor", row.descriptor)
            )
        pixels = faces.decode_png(unseal(self.cipher, table, row_id, "photo", row.photo))
        found = faces.faces_in(pixels, self.encoder)
        return found[0].descriptor if len(found) == 1 else np.zeros(0)

    def _seal(self, table: str, row_id: str, column: str, photo: Photo) -> bytes:
        return seal(self.cipher, table, row_id, column, faces.encode_png(photo.pixels))

    def reference_row(self, identity_id: str, photo: Photo, source: PhotoSource) -> ReferencePhoto:
        row_id = new_id("pho")
        descriptor = photo.sample.descriptor if photo.sample is not None else np.zeros(0)
        return ReferencePhoto(
            id=row_id,
            identity_id=identity_id,
            source=source,
            sha256=photo.sha256,
            encoder=self.encoder.name,
            photo=self._seal("consent_reference_photos", row_id, "photo", photo),
            descriptor=seal(
                self.cipher,
                "consent_reference_photos",
                row_id,
                "descriptor",
                faces.descriptor_bytes(descriptor),
            ),
            created_at=utcnow(),
        )
