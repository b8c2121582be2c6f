"""The keys in use, pinned in the database: every node of one database must hold the same ones.

A second machine that starts with an empty data directory would otherwise mint its own keys: a
watermark secret the first machine cannot read, an audit key that fails at the first
checkpoint, a data key that cannot unseal anything sealed before. So the first node records the
public fingerprint of each kind's current key (secrets by their one-way id), and every node
compares its own at start-up and refuses to start on a difference, naming the key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Engine, String
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from lpm_guard.access.models import UtcDateTime
from lpm_guard.keys.errors import KeysDifferError
from lpm_guard.keys.models import KeyInfo, KeyKind, KeyStatus
from lpm_guard.keys.store import KeyStore

SHARE_KEYS = (
    "every node of one database uses the same keys: set LPM_KEYS_DIR to one shared key "
    "directory (mounted from one place, or a secret) holding the first node's keys"
)


class KeyFingerprintRow(SQLModel, table=True):
    __tablename__ = "key_fingerprints"

    kind: str = Field(sa_column=Column(String(32), primary_key=True))
    key_id: str = Field(sa_column=Column(String(16), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    recorded_by: str = Field(sa_column=Column(String(64), nullable=False))


def pinned(engine: Engine) -> dict[KeyKind, KeyFingerprintRow]:
    """The fingerprints this database's nodes use, by kind (empty for a new database)."""
    with Session(engine, expire_on_commit=False) as db:
        rows = db.exec(select(KeyFingerprintRow)).all()
    return {KeyKind(row.kind): row for row in rows if row.kind in KeyKind._value2member_map_}


def _active(keys: KeyStore) -> dict[KeyKind, KeyInfo]:
    return {info.kind: info for info in keys.describe() if info.status is KeyStatus.ACTIVE}


def check(engine: Engine, keys: KeyStore, node_id: str) -> None:
    """Pin this node's current keys where none is pinned yet, then require every kind's
    current key to be the pinned one; raises ``KeysDifferError`` naming the first that is not."""
    active = _active(keys)
    found = pinned(engine)
    # (1): the first node (or a kind added since) pins its keys; a concurrent first node's
    # row wins the race and is compared below like any other.
    missing = [kind for kind in KeyKind if kind not in found]
    if missing:
        now = datetime.now(UTC)
        for kind in missing:
            info = active[kind]
            try:
                with Session(engine) as db:
                    db.add(
                        KeyFingerprintRow(
                            kind=kind.value,
                            key_id=info.key_id,
                            fingerprint=info.fingerprint,
                            recorded_at=now,
                            recorded_by=node_id,
                        )
                    )
                    db.commit()
            except IntegrityError:
                pass
        found = pinned(engine)
    # (2): every kind's current key is the pinned one.
    for kind in KeyKind:
        mine, theirs = active[kind], found[kind]
        if (mine.key_id, mine.fingerprint) != (theirs.key_id, theirs.fingerprint):
            raise KeysDifferError(
                f"this node's {kind.value} key ({mine.key_id} in {keys.directory}) is not the "
                f"one this database uses ({theirs.key_id}, pinned by node {theirs.recorded_by} "
                f"on {theirs.recorded_at:%Y-%m-%d %H:%M} UTC); {SHARE_KEYS}"
            )


def missing_store(engine: Engine, keys_dir: object) -> KeysDifferError:
    """The refusal for a node with no keys at all on a database that already has some."""
    kinds = ", ".join(sorted(kind.value for kind in pinned(engine)))
    return KeysDifferError(
        f"no keys at {keys_dir}, and this database already uses keys ({kinds}); this node "
        f"will not make its own: {SHARE_KEYS}"
    )


def repin(engine: Engine, info: KeyInfo, node_id: str) -> None:
    """After a rotation: the new current key of its kind is the one every node must use."""
    with Session(engine) as db:
        row = db.get(KeyFingerprintRow, info.kind.value)
        if row is None:
            row = KeyFingerprintRow(
                kind=info.kind.value,
                key_id="",
                fingerprint="",
                recorded_at=datetime.now(UTC),
                recorded_by=node_id,
            )
        row.key_id, row.fingerprint = info.key_id, info.fingerprint
        row.recorded_at, row.recorded_by = datetime.now(UTC), node_id
        db.add(row)
        db.commit()
