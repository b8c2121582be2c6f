"""The signed manifests, kept as they were embedded: the watermark's reference finds an output's
manifest again after a platform strips it from the file (C2PA soft-binding resolution).

References are audit indices, so sequential; the public look-up takes a *handle* instead: the
reference followed by a keyed hash of it (HMAC-SHA256 under a key derived from the data key,
``DataCipher.keyed_hashes``, 128 bits kept). Only a caller who got it from the verification of
a clip carrying the mark holds one; walking the references finds nothing. The table still keys
rows by reference, so manifests stored before handles existed resolve through theirs."""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime

from sqlalchemy import Column, Engine, Integer, LargeBinary, String
from sqlmodel import Field, Session, SQLModel, col, select

from ..access.models import UtcDateTime
from ..keys.encryption import DataCipher
from .models import ManifestLabel

APPLICATION_C2PA = "application/c2pa"


def reference_key(reference: int) -> str:
    """The stored form: 16 lowercase hex digits, as reports show it (a 64-bit unsigned value
    does not fit a signed BIGINT)."""
    return f"{reference:016x}"


HANDLE_PURPOSE = "manifest-handle"
_TAG_HEX = 32  # 128 bits
HANDLE = re.compile(rf"[0-9a-f]{{16}}[0-9a-f]{{{_TAG_HEX}}}")


def _tags(cipher: DataCipher, reference: int) -> list[str]:
    return [
        h[:_TAG_HEX] for h in cipher.keyed_hashes(HANDLE_PURPOSE, reference_key(reference).encode())
    ]


def manifest_handle(cipher: DataCipher, reference: int) -> str:
    """What ``GET /v1/manifests/{handle}`` takes for ``reference``: 48 lowercase hex digits."""
    return reference_key(reference) + _tags(cipher, reference)[0]


def handle_reference(cipher: DataCipher, handle: str) -> int | None:
    """The reference ``handle`` was made for, or None when it is not one of ours (a guessed
    or altered handle; one made under a data key since rotated away still holds)."""
    if not HANDLE.fullmatch(handle):
        return None
    reference = int(handle[:16], 16)
    tag = handle[16:].encode()
    found = False
    for expected in _tags(cipher, reference):  # every key, in constant time each
        found |= hmac.compare_digest(tag, expected.encode())
    return reference if found else None


class SignedManifestRow(SQLModel, table=True):
    __tablename__ = "signed_manifests"

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    reference: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    manifest_label: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    manifest: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signed_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class ManifestStore:
    """Every manifest we sign, by the reference its soft binding (and watermark) carries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def keep(self, reference: int, label: ManifestLabel, manifest: bytes) -> None:
        row = SignedManifestRow(
            reference=reference_key(reference),
            manifest_label=label,
            manifest=manifest,
            signed_at=datetime.now(UTC),
        )
        with Session(self.engine) as db:
            db.add(row)
            db.commit()

    def latest(self, reference: int) -> bytes | None:
        """The manifest signed last for ``reference``: an offline job's output, or a live
        session's whole recording once it has ended (its latest segment before)."""
        query = (
            select(SignedManifestRow.manifest)
            .where(SignedManifestRow.reference == reference_key(reference))
            .order_by(col(SignedManifestRow.id).desc())
            .limit(1)
        )
        with Session(self.engine) as db:
            return db.exec(query).first()
