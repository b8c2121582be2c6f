"""``lpm-guard admin consent`` through the same services, audited as the operator."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lpm_guard.cli import app
from lpm_guard.consent.services import ConsentService
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings

from .conftest import PRINCIPALS, People, png


def test_admin_consent_commands(tmp_path: Path, people: People) -> None:
    data = tmp_path / "data"
    env = {"LPM_DATA_DIR": str(data), "LPM_LOG_LEVEL": "WARNING"}
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["admin", "consent", *args], env=env)
        assert result.exit_code == code, result.output
        return result.output

    # A researcher's identity, made through the service the API uses.
    runtime = Runtime.open(Settings(data_dir=data, checkpoint_interval_s=3600))
    try:
        identity = ConsentService(runtime).create_identity(
            PRINCIPALS["token-researcher-a"], "Subject", [png(people.t1[0])]
        )
    finally:
        runtime.close()

    listed = json.loads(run("identities", "--json"))
    assert [(i["id"], i["status"]) for i in listed] == [(identity.id, "awaiting_consent")]
    assert identity.id in run("identities", "--status", "awaiting_consent")
    assert run("identities", "--status", "consented") == ""

    assert f"{identity.id}: revoked" in run("revoke", identity.id, "--reason", "asked by phone")
    assert "already revoked" in run("revoke", identity.id, "--reason", "again", code=1)
    assert "no identity" in run("revoke", "idn_missing", "--reason", "x", code=1)

    photo = tmp_path / "face.png"
    photo.write_bytes(png(people.t1[2]))
    out = run("protect", "A public figure", str(photo), "--reason", "public figure")
    assert "protected (1 photo(s))" in out
    assert "A public figure" in run("protected")
    assert "no such file" in run(
        "protect", "X", str(tmp_path / "none.png"), "--reason", "r", code=1
    )
    blank = tmp_path / "blank.txt"
    blank.write_text("not an image")
    assert "JPEG, PNG or WebP" in run("protect", "Y", str(blank), "--reason", "r", code=1)

    runtime = Runtime.open(Settings(data_dir=data, checkpoint_interval_s=3600))
    try:
        actions = [
            (json.loads(e.body)["action"], json.loads(e.body)["actor"])
            for e in runtime.audit.entries()
        ]
    finally:
        runtime.close()
    assert ("consent:consent:revoke", f"operator:{_user()}") in actions
    assert ("consent:protected:create", f"operator:{_user()}") in actions


def _user() -> str:
    import getpass

    return getpass.getuser()
