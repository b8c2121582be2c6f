"""Signed checkpoints in the C2SP tlog-checkpoint format, carried in a C2SP signed note.

Written by hand: the signed-note format is a few lines of text plus Ed25519, and no maintained
Python library implements it. A checkpoint note looks like::

    lpm-guard.local/audit
    1234
    <base64 root hash>
    time 2026-11-22T03:04:05.123456Z

    — lpm-guard.local/audit <base64(4-byte key hash ‖ 64-byte Ed25519 signature)>
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .entries import format_timestamp, parse_timestamp
from .errors import CheckpointError

_ED25519 = b"\x01"
_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_TIME_PREFIX = "time "


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + _raw(public_key)).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise CheckpointError(f"invalid key name {name!r}: no spaces or '+'")


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    name: str
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        _check_name(self.name)

    @property
    def key_hash(self) -> bytes:
        return _key_hash(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        """The verifier key string (``name+hash+base64``) that platforms pin."""
        blob = base64.b64encode(_ED25519 + _raw(self.public_key)).decode()
        return f"{self.name}+{self.key_hash.hex()}+{blob}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        try:
            name, hash_hex, blob = vkey.strip().split("+", 2)
            raw = base64.b64decode(blob, validate=True)
            expected = bytes.fromhex(hash_hex)
        except (ValueError, binascii.Error):
            raise CheckpointError("malformed verifier key") from None
        if len(raw) != 33 or raw[:1] != _ED25519:
            raise CheckpointError("verifier key is not an Ed25519 key")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_hash != expected:
            raise CheckpointError("verifier key hash does not match its key")
        return verifier

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class NoteSigner:
    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        _check_name(self.name)

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r}, key_hash={self.verifier.key_hash.hex()})"

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.private_key.public_key())

    def sign(self, text: bytes) -> str:
        signature = self.private_key.sign(text)
        blob = base64.b64encode(self.verifier.key_hash + signature).decode()
        return f"{_SIGNATURE_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    timestamp: datetime
    note: str
    key_hash: bytes

    def body(self) -> bytes:
        return self.note.split("\n\n", 1)[0].encode() + b"\n"

    def to_json(self) -> dict[str, object]:
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": format_timestamp(self.timestamp),
            "key_hash": self.key_hash.hex(),
            "note": self.note,
        }


def checkpoint_text(origin: str, tree_size: int, root_hash: bytes, timestamp: datetime) -> bytes:
    return (
        f"{origin}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"
        f"{_TIME_PREFIX}{format_timestamp(timestamp)}\n"
    ).encode()


def sign_checkpoint(
    signer: NoteSigner, tree_size: int, root_hash: bytes, timestamp: datetime
) -> Checkpoint:
    text = checkpoint_text(signer.name, tree_size, root_hash, timestamp)
    note = text.decode() + "\n" + signer.sign(text)
    return Checkpoint(signer.name, tree_size, root_hash, timestamp, note, signer.verifier.key_hash)


def open_checkpoint(note: str, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
    """Parse a checkpoint note; raise CheckpointError unless a known key signed it."""
    # (1): split the signed text from its signature lines.
    text, sep, signatures = note.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise CheckpointError("malformed note: no signature block")
    body = (text + "\n").encode()
    # (2): accept the note only if a known key's signature verifies; a bad one is fatal.
    signed_by: bytes | None = None
    for line in signatures[:-1].split("\n"):
        if not line.startswith(_SIGNATURE_PREFIX):
            raise CheckpointError("malformed signature line")
        try:
            name, blob = line[len(_SIGNATURE_PREFIX) :].split(" ")
            raw = base64.b64decode(blob, validate=True)
        except (ValueError, binascii.Error):
            raise CheckpointError("malformed signature line") from None
        if len(raw) != 68:
            raise CheckpointError("malformed Ed25519 note signature")
        key_hash, signature = raw[:4], raw[4:]
        for verifier in verifiers:
            if verifier.name == name and verifier.key_hash == key_hash:
                if not verifier.verify(body, signature):
                    raise CheckpointError(f"signature by {name} ({key_hash.hex()}) does not verify")
                signed_by = key_hash
    if signed_by is None:
        raise CheckpointError("checkpoint is not signed by a trusted key")
    # (3): parse the checkpoint body: origin, size, root hash, then our time line.
    lines = text.split("\n")
    if len(lines) < 4 or not lines[3].startswith(_TIME_PREFIX):
        raise CheckpointError("malformed checkpoint body")
    try:
        tree_size = int(lines[1])
        root_hash = base64.b64decode(lines[2], validate=True)
        timestamp = parse_timestamp(lines[3][len(_TIME_PREFIX) :])
    except (ValueError, binascii.Error):
        raise CheckpointError("malformed checkpoint body") from None
    if tree_size < 0 or len(root_hash) != 32 or str(tree_size) != lines[1]:
        raise CheckpointError("malformed checkpoint body")
    return Checkpoint(lines[0], tree_size, root_hash, timestamp, note, signed_by)
