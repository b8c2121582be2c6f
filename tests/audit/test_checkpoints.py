from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lpm_guard.audit import (
    CheckpointError,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    sign_checkpoint,
)

MOMENT = datetime(2026, 11, 22, 3, 4, 5, 123456, tzinfo=UTC)


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner("example.com/log", Ed25519PrivateKey.generate())


def test_checkpoint_is_a_c2sp_signed_note(signer: NoteSigner) -> None:
    root = bytes(range(32))
    checkpoint = sign_checkpoint(signer, 42, root, MOMENT)
    body, signatures = checkpoint.note.split("\n\n")
    assert body.split("\n") == [
        "example.com/log",
        "42",
        base64.b64encode(root).decode(),
        "time 2026-11-22T03:04:05.123456Z",
    ]
    line = signatures.rstrip("\n")
    assert line.startswith("\u2014 example.com/log ")
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4] == signer.verifier.key_hash and len(raw) == 68

    opened = open_checkpoint(checkpoint.note, [signer.verifier])
    assert (opened.tree_size, opened.root_hash, opened.timestamp) == (42, root, MOMENT)


def test_key_hash_follows_the_signed_note_spec(signer: NoteSigner) -> None:
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = signer.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    expected = hashlib.sha256(b"example.com/log\n\x01" + raw).digest()[:4]
    assert signer.verifier.key_hash == expected


def test_vkey_round_trips_and_rejects_a_wrong_hash(signer: NoteSigner) -> None:
    vkey = signer.verifier.vkey
    assert NoteVerifier.from_vkey(vkey).key_hash == signer.verifier.key_hash
    name, _, blob = vkey.split("+", 2)
    with pytest.raises(CheckpointError):
        NoteVerifier.from_vkey(f"{name}+00000000+{blob}")
    with pytest.raises(CheckpointError):
        NoteVerifier.from_vkey("not a key")


def test_another_key_or_an_edited_note_does_not_verify(signer: NoteSigner) -> None:
    checkpoint = sign_checkpoint(signer, 7, b"\x01" * 32, MOMENT)
    stranger = NoteSigner("example.com/log", Ed25519PrivateKey.generate())
    with pytest.raises(CheckpointError, match="not signed by a trusted key"):
        open_checkpoint(checkpoint.note, [stranger.verifier])
    forged = checkpoint.note.replace("\n7\n", "\n8\n", 1)
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(forged, [signer.verifier])
    # A signature made by another key under our name and key hash must fail, not pass.
    text = checkpoint.body()
    fake = base64.b64encode(signer.verifier.key_hash + stranger.private_key.sign(text)).decode()
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(text.decode() + f"\n\u2014 example.com/log {fake}\n", [signer.verifier])


@pytest.mark.parametrize(
    "note", ["", "no signature block", "a\nb\n\nnot a signature\n", "a\n1\nAAAA\n\n\u2014 a AAAA\n"]
)
def test_malformed_notes_are_refused(signer: NoteSigner, note: str) -> None:
    with pytest.raises(CheckpointError):
        open_checkpoint(note, [signer.verifier])


def test_signer_repr_hides_the_private_key(signer: NoteSigner) -> None:
    assert "private" not in repr(signer).lower()
