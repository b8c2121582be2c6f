"""Where each key lives: ``<store>/<kind>/<key-id>.<ext>``, its metadata, and the ``active`` file.

Per kind directory:

- ``active``: the current key id.
- ``<id>.json``: the key's metadata (id, kind, algorithm, creation time). A key exists once
  this file does; it is written after the key's other files.
- audit (Ed25519), token-signing (ES256, OAuth2 JWT access tokens): ``<id>.pub.pem`` (kept),
  ``<id>.key.pem`` (the current key only).
- c2pa: ``<id>.chain.pem`` (leaf then root, kept), ``<id>.key.pem`` (the current leaf only),
  ``root.key.pem`` and ``root.cert.pem`` (the CA that issues leaves on rotation).
- watermark, data-encryption: ``<id>.secret`` (32 raw bytes, kept).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lpm_guard.keys._files import read_private, remove, write_private
from lpm_guard.keys.errors import CorruptKeyError, KeyStoreMissingError
from lpm_guard.keys.fingerprints import parse_key_id
from lpm_guard.keys.models import ALGORITHMS, KeyId, KeyKind

ACTIVE = "active"
METADATA_SUFFIX = ".json"
PUBLIC_KEY_SUFFIX = ".pub.pem"
PRIVATE_KEY_SUFFIX = ".key.pem"
CHAIN_SUFFIX = ".chain.pem"
SECRET_SUFFIX = ".secret"  # noqa: S105
ROOT_KEY = "root.key.pem"
ROOT_CERTIFICATE = "root.cert.pem"


@dataclass(frozen=True)
class KeyRecord:
    kind: KeyKind
    key_id: KeyId
    created_at: datetime


def kind_directory(store: Path, kind: KeyKind) -> Path:
    return store / kind.value


def key_file(kind_dir: Path, key_id: KeyId, suffix: str) -> Path:
    return kind_dir / f"{key_id}{suffix}"


def has_active(kind_dir: Path) -> bool:
    return (kind_dir / ACTIVE).is_file()


def read_active(kind_dir: Path) -> KeyId:
    path = kind_dir / ACTIVE
    if not path.exists():
        raise KeyStoreMissingError(f"{path} is missing: no current key of this kind")
    try:
        text = read_private(path).decode("ascii").strip()
    except UnicodeDecodeError as error:
        raise CorruptKeyError(f"{path} does not hold a key id") from error
    return parse_key_id(text, str(path))


def write_active(kind_dir: Path, key_id: KeyId) -> None:
    write_private(kind_dir / ACTIVE, f"{key_id}\n".encode("ascii"))


def write_record(kind_dir: Path, record: KeyRecord) -> None:
    document = {
        "id": record.key_id,
        "kind": record.kind.value,
        "algorithm": ALGORITHMS[record.kind].value,
        "created_at": record.created_at.isoformat(),
    }
    write_private(
        key_file(kind_dir, record.key_id, METADATA_SUFFIX),
        json.dumps(document, indent=2).encode("utf-8") + b"\n",
    )


def read_records(kind_dir: Path, kind: KeyKind) -> list[KeyRecord]:
    """Every key of ``kind``, newest first."""
    records = []
    for path in kind_dir.glob(f"*{METADATA_SUFFIX}"):
        key_id = parse_key_id(path.name.removesuffix(METADATA_SUFFIX), f"the name of {path}")
        records.append(_parse_record(path, kind, key_id))
    return sorted(records, key=lambda record: record.created_at, reverse=True)


def _parse_record(path: Path, kind: KeyKind, key_id: KeyId) -> KeyRecord:
    try:
        document = json.loads(read_private(path))
        recorded = (document["id"], document["kind"], document["algorithm"])
        created_at = datetime.fromisoformat(document["created_at"])
    except (ValueError, KeyError, TypeError) as error:
        raise CorruptKeyError(f"{path} is not valid key metadata") from error
    if recorded != (key_id, kind.value, ALGORITHMS[kind].value):
        raise CorruptKeyError(f"{path} does not describe the {kind} key {key_id}")
    if created_at.tzinfo is None:
        raise CorruptKeyError(f"{path} has a creation time without a time zone")
    return KeyRecord(kind=kind, key_id=key_id, created_at=created_at)


def remove_retired_private_keys(kind_dir: Path, active: KeyId) -> None:
    keep = key_file(kind_dir, active, PRIVATE_KEY_SUFFIX).name
    for path in kind_dir.glob(f"*{PRIVATE_KEY_SUFFIX}"):
        if path.name not in (keep, ROOT_KEY):
            remove(path)
