"""A writer killed with SIGKILL mid-append leaves a log that verifies, with no gap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lpm_guard.audit import AuditLog, NoteSigner
from lpm_guard.audit import schema as audit_schema

from lpm_guard.database import make_engine

WRITER = r"""
import sys
from pathlib import Path
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lpm_guard.audit import AuditLog, Event, NoteSigner
from lpm_guard.database import make_engine

url, key_file, witness = sys.argv[1:4]
key = load_pem_private_key(Path(key_file).read_bytes(), None)
log = AuditLog(make_engine(url), signer=NoteSigner("crash.test/log", key),
               witness=Path(witness), checkpoint_interval=0)
i = 0
while True:
    if i % 4 == 0:
        log.append_many([Event("test:crash:append", "writer", payload={"i": i, "k": k})
                         for k in range(50)])
    else:
        log.append(Event("test:crash:append", "writer", payload={"i": i}))
    if i % 25 == 0:
        log.checkpoint(force=True)
    i += 1
"""


@pytest.mark.parametrize("kills", [4])
def test_sigkill_during_appends(database_url: str, tmp_path: Path, kills: int) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        audit_schema.create(conn)
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    witness = tmp_path / "witness"
    log = AuditLog(engine, signer=NoteSigner("crash.test/log", key), witness=witness)
    sizes = []
    for round_ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, database_url, str(key_file), str(witness)],
            stderr=subprocess.PIPE,
        )
        target = log.size() + 200 + 97 * round_
        deadline = time.monotonic() + 60
        while log.size() < target and time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read().decode()  # type: ignore[union-attr]
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        report = log.verify()
        sizes.append(report.tree_size)
        assert report.tree_size >= target
        assert [s.entry.index for s in log.entries(report.tree_size - 60)] == list(
            range(report.tree_size - 60, report.tree_size)
        )
    assert sizes == sorted(sizes)
    assert log.verify().checkpoints_verified >= kills
    engine.dispose()


APPENDER = r"""
import sys
from lpm_guard.audit import AuditLog, Event
from lpm_guard.database import make_engine

url, name = sys.argv[1:3]
log = AuditLog(make_engine(url))
for i in range(60):
    if i % 5 == 0:
        log.append_many([Event("test:race:append", name, payload={"k": k}) for k in range(7)])
    else:
        log.append(Event("test:race:append", name, payload={"i": i}))
"""


def test_several_processes_append_without_a_gap(database_url: str, log: AuditLog) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, database_url, f"writer:{n}"])
        for n in range(4)
    ]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    expected = 4 * (48 + 12 * 7)
    assert [s.entry.index for s in log.entries()] == list(range(expected))
    assert {s.entry.event.actor for s in log.entries()} == {f"writer:{n}" for n in range(4)}
    log.checkpoint(force=True)
    assert log.verify().tree_size == expected
