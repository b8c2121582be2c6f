"""Export to JSON Lines and the standalone verifier that needs only the public key."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lpm_guard.audit import AuditLog, Event, NoteSigner, VerificationError, verify_export


@pytest.fixture
def exported(log: AuditLog, tmp_path: Path) -> Path:
    log.append_many(
        [Event("test:thing:do", f"user:{i}", payload={"n": i, "s": "é"}) for i in range(25)]
    )
    log.checkpoint(force=True)
    log.append_many([Event("test:thing:do", "user:x") for _ in range(5)])
    log.checkpoint(force=True)
    path = tmp_path / "log.jsonl"
    with path.open("w", encoding="utf-8") as out:
        assert log.export(out) == 30
    return path


def test_export_verifies_with_only_the_public_key(exported: Path, signer: NoteSigner) -> None:
    with exported.open(encoding="utf-8") as lines:
        report = verify_export(lines, [signer.verifier])
    assert (report.tree_size, report.checkpoints_verified, report.latest_checkpoint) == (30, 2, 30)


def standalone(export: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lpm_guard.audit.verify", str(export), *args]
    return subprocess.run(command, capture_output=True, text=True)


def test_standalone_verifier_command(exported: Path, signer: NoteSigner) -> None:
    run = standalone(exported, "--vkey", signer.verifier.vkey, "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["tree_size"] == 30


def _edit(path: Path, index: int, old: str, new: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[index + 1])
    assert old in record["body"]
    record["body"] = record["body"].replace(old, new)
    lines[index + 1] = json.dumps(record, ensure_ascii=False) + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def test_an_edited_export_fails(exported: Path, signer: NoteSigner) -> None:
    _edit(exported, 3, '"user:3"', '"user:9"')
    run = standalone(exported, "--vkey", signer.verifier.vkey)
    assert run.returncode == 1
    assert "FAIL" in run.stderr and "first bad index 0" in run.stderr


def test_an_export_under_another_key_fails(exported: Path) -> None:
    other = NoteSigner("test.lpm-guard.local/audit", Ed25519PrivateKey.generate())
    with (
        exported.open(encoding="utf-8") as lines,
        pytest.raises(VerificationError, match="trusted key"),
    ):
        verify_export(lines, [other.verifier])


@pytest.mark.parametrize("text", ["", "not json\n", '{"type": "header", "format": "x/9"}\n'])
def test_garbage_is_refused(text: str, signer: NoteSigner) -> None:
    with pytest.raises(VerificationError):
        verify_export(io.StringIO(text), [signer.verifier])


def test_a_dropped_entry_is_named(exported: Path, signer: NoteSigner) -> None:
    lines = exported.read_text(encoding="utf-8").splitlines(keepends=True)
    del lines[1 + 11]
    with pytest.raises(VerificationError) as caught:
        verify_export(io.StringIO("".join(lines)), [signer.verifier])
    assert caught.value.first_bad_index == 11
