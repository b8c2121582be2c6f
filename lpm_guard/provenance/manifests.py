"""The signed manifests, kept as they were embedded: the watermark's reference finds an output's
manifest again after a platform strips it from the file (C2PA soft-binding resolution)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Engine, Integer, LargeBinary, String
from sqlmodel import Field, Session, SQLModel, col, select

from ..access.models import UtcDateTime
from .models import ManifestLabel

APPLICATION_C2PA = "application/c2pa"


def reference_key(reference: int) -> str:
    """The stored form: 16 lowercase hex digits, as reports show it (a 64-bit unsigned value
    does not fit a signed BIGINT)."""
    return f"{reference:016x}"


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
