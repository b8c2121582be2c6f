"""What goes into the log: events in, canonical entries stored, receipts out."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NewType

import rfc8785

LeafHash = NewType("LeafHash", bytes)
JSON = Any

# Keys an entry always has, in the order RFC 8785 sorts them anyway.
ENTRY_FIELDS = ("action", "actor", "index", "objects", "outcome", "payload", "reasons", "timestamp")


@dataclass(frozen=True, slots=True)
class Event:
    """One decision or action to record. Never put biometric data or secrets in here: hashes only.

    ``action`` is a ``domain:object:action`` tag (``audit:checkpoint:publish``); ``actor`` names
    who acted (``user:42``, ``system``); ``objects`` references what was acted on
    (``{"identity": "id_…"}``); ``outcome`` is ``allow``/``deny``/``success``/``failure``/…
    """

    action: str
    actor: str
    outcome: str = "success"
    objects: Mapping[str, str] = field(default_factory=dict)
    reasons: Sequence[str] = ()
    payload: Mapping[str, JSON] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.action or not self.actor or not self.outcome:
            raise ValueError("an audit event needs an action, an actor and an outcome")


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    timestamp: datetime
    event: Event

    def to_json(self) -> dict[str, JSON]:
        return {
            "action": self.event.action,
            "actor": self.event.actor,
            "index": self.index,
            "objects": dict(self.event.objects),
            "outcome": self.event.outcome,
            "payload": dict(self.event.payload),
            "reasons": list(self.event.reasons),
            "timestamp": format_timestamp(self.timestamp),
        }

    def canonical(self) -> bytes:
        """RFC 8785 canonical JSON: the exact bytes the leaf hash covers."""
        return rfc8785.dumps(self.to_json())

    @classmethod
    def from_canonical(cls, body: bytes) -> Entry:
        data = json.loads(body)
        if not isinstance(data, dict) or sorted(data) != list(ENTRY_FIELDS):
            raise ValueError("not an audit entry")
        event = Event(
            action=data["action"],
            actor=data["actor"],
            outcome=data["outcome"],
            objects=data["objects"],
            reasons=tuple(data["reasons"]),
            payload=data["payload"],
        )
        return cls(index=data["index"], timestamp=parse_timestamp(data["timestamp"]), event=event)


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof of appending, small enough for a C2PA manifest or a watermark lookup."""

    index: int
    leaf_hash: LeafHash
    tree_size: int

    def to_json(self) -> dict[str, JSON]:
        return {"index": self.index, "leaf_hash": self.leaf_hash.hex(), "tree_size": self.tree_size}

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Receipt:
        digest = bytes.fromhex(data["leaf_hash"])
        if len(digest) != 32:
            raise ValueError("leaf_hash must be 32 bytes")
        return cls(
            index=int(data["index"]), leaf_hash=LeafHash(digest), tree_size=int(data["tree_size"])
        )


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {text!r}")
    return moment.astimezone(UTC)
