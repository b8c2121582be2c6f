"""``lpm-guard demo`` on a fresh data directory: it ends with a verified clip and the sandbox
on record in the audit log, and never enrols a real person; run again on the same directory,
it makes new sandbox accounts and another clip. (One test: each run renders and signs a clip.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_the_demo_ends_with_a_verified_clip_and_the_sandbox_on_record_and_runs_again(
    cli: Callable[..., str], data: Path, tmp_path: Path
) -> None:
    clip = tmp_path / "pip.mp4"
    out = cli("demo", "--out", str(clip))
    assert "authentic (C2PA trusted, watermark present" in out
    for page in ("/verify.html", "/review.html", "/live.html"):
        assert page in out
    # (1): the clip verifies as anyone would check it.
    report = json.loads(cli("verify", str(clip), "--json"))
    assert report["verdict"] == "authentic"
    assert report["watermark"]["status"] == "present"
    assert report["audit"]["status"] == "included"
    # (2): the one-time passwords are printed, once, for the two sandbox accounts.
    accounts = [line.split() for line in out.splitlines() if "@sandbox.example" in line]
    roles = {fields[0]: fields for fields in accounts if fields[0] in {"reviewer", "researcher"}}
    assert set(roles) == {"reviewer", "researcher"} and all(len(f) == 3 for f in roles.values())
    # (3): the log holds the sandbox: accounts marked, every later step by a sandbox id.
    entries = [json.loads(line) for line in cli("audit", "tail", "-n", "100").splitlines()]
    created = [e for e in entries if e["action"] == "access:account:create"]
    assert [e["payload"] for e in created] == [
        {"role": "reviewer", "sandbox": True},
        {"role": "researcher", "sandbox": True},
    ]
    operator, researcher = (e["objects"]["account"] for e in created)
    assert operator.startswith("sandbox_") and researcher.startswith("sandbox_")
    by = {e["action"]: e["actor"] for e in entries}
    assert by["access:application:approve"] == operator
    assert by["consent:synthetic:enroll"] == researcher
    assert by["consent:synthetic:approve"] == operator
    assert by["generation:request:allow"] == researcher
    assert by["generation:job:complete"] == researcher
    allow = next(e for e in entries if e["action"] == "generation:request:allow")
    assert report["audit"]["index"] == allow["index"]
    # (4): no real person: no person's identity was created or invited.
    actions = {e["action"] for e in entries}
    assert "consent:identity:create" not in actions and "consent:invitation:create" not in actions
    enrolled = next(e for e in entries if e["action"] == "consent:synthetic:enroll")
    assert enrolled["payload"]["origin"] == "drawn" and enrolled["payload"]["landmarks"] is True
    assert "generation:request:deny" not in actions

    # (5): again on the same data directory: new sandbox accounts, another clip.
    again = cli("demo", "--out", str(tmp_path / "two.mp4"))
    emails = lambda out: {w for w in out.split() if w.endswith("@sandbox.example")}  # noqa: E731
    assert emails(out) and emails(again) and emails(out).isdisjoint(emails(again))
    assert (tmp_path / "two.mp4").stat().st_size > 0
