"""The ``lpm-guard`` command line against a real data directory."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from lpm_guard.audit import NoteVerifier, verify_export

from lpm_guard.database import head_revision
from lpm_guard.keys import KeyStore


def test_db_upgrade_creates_data_keys_and_schema(cli, data: Path) -> None:  # type: ignore[no-untyped-def]
    assert f"revision {head_revision()}" in cli("db", "upgrade")
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert (data / "lpm-guard.db").exists()
    assert f"current: {head_revision()}" in cli("db", "current")
    assert f"revision {head_revision()}" in cli("db", "upgrade")  # idempotent


def test_keys_show_prints_public_parts_only(cli, data: Path) -> None:  # type: ignore[no-untyped-def]
    cli("db", "upgrade")
    shown = cli("keys", "show", "--json")
    keys = json.loads(shown)
    assert {k["kind"] for k in keys} == {
        "audit",
        "c2pa",
        "watermark",
        "data-encryption",
        "token-signing",
    }
    secret = KeyStore.open(data / "keys", create=False).watermark_key().secret
    for text in (shown, cli("keys", "show")):
        assert secret.hex() not in text and base64.b64encode(secret).decode() not in text
    assert "PRIVATE KEY" not in shown
    audit_key = next(k for k in keys if k["kind"] == "audit")
    assert NoteVerifier.from_vkey(audit_key["checkpoint_vkey"]).name == "lpm-guard.local/audit"


def test_rotating_the_audit_key_keeps_old_checkpoints_verifiable(cli, data: Path) -> None:  # type: ignore[no-untyped-def]
    cli("db", "upgrade")
    cli("audit", "checkpoint", "--force")
    assert "new active key" in cli("keys", "rotate", "audit")
    out = cli("audit", "verify", "--json")
    report = json.loads(out[out.index("{") :])
    assert report["ok"] and report["checkpoints_verified"] >= 2
    tail = cli("audit", "tail", "-n", "5")
    assert '"action":"keys:key:rotate"' in tail


def test_proofs_and_consistency_print_and_check(cli) -> None:  # type: ignore[no-untyped-def]
    cli("db", "upgrade")
    for _ in range(3):
        cli("audit", "checkpoint", "--force")
        cli("keys", "rotate", "watermark")
    proof = json.loads(cli("audit", "proof", "2", "--json"))
    assert proof["index"] == 2 and proof["path"]
    assert "entry 1 in tree of size 3" in cli("audit", "proof", "1", "--tree-size", "3")
    assert json.loads(cli("audit", "consistency", "2", "--json"))["old_size"] == 2
    assert "error:" in cli("audit", "proof", "99", code=1)
    assert "error:" in cli("audit", "consistency", "0", code=1)
    assert "error:" in cli("audit", "show", "99", code=1)
    assert '"index":0' in cli("audit", "show", "0")


def test_export_then_standalone_verify(cli, data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("db", "upgrade")
    cli("audit", "checkpoint", "--force")
    out = tmp_path / "log.jsonl"
    cli("audit", "export", "--out", str(out))
    vkey = next(k for k in json.loads(cli("keys", "show", "--json")) if k["kind"] == "audit")[
        "checkpoint_vkey"
    ]
    with out.open(encoding="utf-8") as lines:
        assert verify_export(lines, [NoteVerifier.from_vkey(vkey)]).checkpoints_verified == 1


def test_read_only_commands_refuse_an_uninitialised_data_dir(cli, data: Path) -> None:  # type: ignore[no-untyped-def]
    assert "error:" in cli("audit", "verify", code=1)
    assert not (data / "keys").exists()  # nothing was created as a side effect


def _entry_point(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LPM_DATA_DIR=str(data), LPM_LOG_LEVEL="WARNING")
    return subprocess.run(
        [sys.executable, "-m", "lpm_guard", *args], capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("damage", ["header", "pages"])
def test_a_corrupted_database_fails_loudly(cli, data: Path, damage: str) -> None:  # type: ignore[no-untyped-def]
    cli("db", "upgrade")
    cli("keys", "rotate", "watermark")
    cli("audit", "checkpoint", "--force")
    assert _entry_point(data, "audit", "verify").returncode == 0
    db = data / "lpm-guard.db"
    raw = bytearray(db.read_bytes())
    if damage == "header":
        raw[:16] = b"definitely not a"
    else:
        for i in range(4096, len(raw), 7):
            raw[i] ^= 0x5A
    db.write_bytes(bytes(raw))
    run = _entry_point(data, "audit", "verify")
    assert run.returncode != 0
    assert "error:" in run.stderr and "Traceback" not in run.stderr


def test_no_secret_reaches_the_logs(data: Path) -> None:
    env = dict(os.environ, LPM_DATA_DIR=str(data), LPM_LOG_LEVEL="DEBUG")
    logs = ""
    for args in (
        ["db", "upgrade"],
        ["keys", "rotate", "data-encryption"],
        ["keys", "show"],
        ["audit", "checkpoint", "--force"],
    ):
        run = subprocess.run(
            [sys.executable, "-m", "lpm_guard", *args], capture_output=True, text=True, env=env
        )
        assert run.returncode == 0, run.stderr
        logs += run.stdout + run.stderr
    store = KeyStore.open(data / "keys", create=False)
    secrets = [k.secret for k in store.watermark_keys()]
    for path in (data / "keys").rglob("*.pem"):
        if b"PRIVATE KEY" in path.read_bytes():
            secrets.append(path.read_bytes().split(b"\n")[1])  # first line of the key body
    for path in (data / "keys").rglob("*.secret"):
        secrets.append(path.read_bytes())
    assert secrets
    for secret in secrets:
        for form in (secret.hex(), base64.b64encode(secret).decode(), secret.decode("latin-1")):
            assert form not in logs


def test_verify_json_names_the_first_bad_index(cli, data: Path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    cli("db", "upgrade")
    cli("keys", "rotate", "watermark")
    cli("audit", "checkpoint", "--force")
    db = sqlite3.connect(data / "lpm-guard.db")
    db.execute("DROP TRIGGER audit_entries_refuse_update")
    db.execute(
        "UPDATE audit_entries SET body = replace(body, 'watermark', 'w4termark') WHERE idx = 1"
    )
    db.commit()
    db.close()
    out = cli("audit", "verify", "--json", code=1)
    report = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert report["ok"] is False and report["first_bad_index"] == 1
    assert any(p["index"] == 1 for p in report["problems"])
