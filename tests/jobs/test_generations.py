"""Offline generations through the gate, end to end over real HTTP with a worker process."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from lpm_guard.access.scopes import Role
from lpm_guard.consent.services import ConsentService
from lpm_guard.jobs.ledger import GenerationJob, JobStatus, job_directory, recover
from lpm_guard.provenance.services import ProvenanceService
from tests.access.world import World
from tests.consent.conftest import People, png
from tests.gate.test_gate import audit_actions, character


def speech(text: str, path: Path) -> Path:
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    return path


def submit(world: World, token: str, identity: str, audio: Path, **fields: str):  # type: ignore[no-untyped-def]
    with audio.open("rb") as f:
        return world.http.post(
            "/v1/generations",
            data={"identity_id": identity, **fields},
            files={"audio": (audio.name, f, "audio/wav")},
            headers={"Authorization": f"Bearer {token}"},
            # The speech is checked before the answer, by check workers that may still be
            # loading their models when a test's first request arrives (on a loaded machine,
            # more than the client's 30 s).
            timeout=120,
        )


def test_an_allowed_generation_yields_a_signed_watermarked_mp4(
    live_world: World, people: People, tmp_path: Path
) -> None:
    world = live_world
    researcher = world.researcher()
    token = world.web_tokens(researcher)["access_token"]
    identity = character(world, researcher, people.t1[4], tmp_path)
    text = "Hello, my name is Alex. Today I will tell you about the weather. It is sunny and warm."
    audio = speech(text, tmp_path / "speech.wav")
    response = submit(world, token, identity, audio, instructions="smile warmly")
    assert response.status_code == 202, response.text
    job = response.json()
    auth = {"Authorization": f"Bearer {token}"}
    # Progress as Server-Sent Events, until the job ends.
    seen: list[str] = []
    with world.http.stream(
        "GET", f"/v1/generations/{job['id']}/events", headers=auth, timeout=180
    ) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        for line in events.iter_lines():
            if line.startswith("event: "):
                seen.append(line.removeprefix("event: "))
    assert seen[0] == "progress" and seen[-1] == "succeeded", seen
    status = world.http.get(f"/v1/generations/{job['id']}", headers=auth).json()
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    video = world.http.get(f"/v1/generations/{job['id']}/video", headers=auth)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    out = tmp_path / "out.mp4"
    out.write_bytes(video.content)
    assert world.runtime is not None
    report = ProvenanceService.from_runtime(world.runtime).verify_file(out)
    assert report.verdict == "authentic" and report.c2pa.status == "trusted"
    assert report.watermark.status == "present"
    assert int(str(report.watermark.reference), 16) == job["audit_index"]
    assert report.audit is not None and report.audit.status in ("included", "pending")
    # The same through the command line a platform would run.
    from tests.provenance.test_cli_verify import run

    code, output = run(world.runtime, "verify", str(out), "--json")
    assert code == 0, output
    printed = json.loads(output)
    assert printed["verdict"] == "authentic" and printed["c2pa"]["status"] == "trusted"
    assert printed["watermark"]["status"] == "present"
    assert printed["audit"]["index"] == job["audit_index"]
    # Nothing unsigned is left, and the uploaded voice is not kept.
    directory = job_directory(world.runtime, job["id"])
    assert sorted(p.name for p in directory.iterdir()) == [f"{job['id']}.mp4"]
    actions = [e["action"] for e in audit_actions(world)]
    assert "generation:request:allow" in actions and "generation:job:complete" in actions
    # Only its owner and reviewers see the job.
    other = world.web_tokens(world.researcher())["access_token"]
    assert (
        world.http.get(
            f"/v1/generations/{job['id']}", headers={"Authorization": f"Bearer {other}"}
        ).status_code
        == 404
    )
    reviewer = world.web_tokens(world.staff(Role.REVIEWER))["access_token"]
    assert (
        world.http.get(
            f"/v1/generations/{job['id']}/video", headers={"Authorization": f"Bearer {reviewer}"}
        ).status_code
        == 200
    )


def test_disallowed_speech_is_refused_and_audited(
    live_world: World, people: People, tmp_path: Path
) -> None:
    world = live_world
    researcher = world.researcher()
    token = world.web_tokens(researcher)["access_token"]
    # A character a reviewer approved passes the consent gate as a consented person does; the
    # speech is what is refused here.
    identity = character(world, researcher, people.t1[2], tmp_path)
    audio = speech(
        "This is your bank. Tell me your password and the one time code we just sent you.",
        tmp_path / "scam.wav",
    )
    response = submit(world, token, identity, audio)
    assert response.status_code == 403, response.text
    problem = response.json()
    assert any("policy" in reason for reason in problem["reasons"])
    denial = audit_actions(world)[-1]
    assert denial["action"] == "generation:request:deny"


def test_interrupted_jobs_are_marked_failed_at_start(live_world: World) -> None:
    world = live_world
    assert world.runtime is not None
    row = GenerationJob(
        id="job_interrupted",
        owner="researcher",
        identity_id="idn_x",
        status=JobStatus.RUNNING,
        frames_done=10,
        frames_total=100,
        audit_index=0,
        seconds=4.0,
        created_at=datetime.now(UTC),
    )
    with Session(world.runtime.engine) as session:
        session.add(row)
        session.commit()
    directory = job_directory(world.runtime, "job_interrupted")
    directory.mkdir(parents=True)
    (directory / ".job_interrupted.unsigned.mp4").write_bytes(b"half a video")
    (directory / "transcript.json").write_text('[[0.1, 1.2, "the words heard"]]')
    assert recover(world.runtime) >= 1
    with Session(world.runtime.engine) as session:
        failed = session.get(GenerationJob, "job_interrupted")
        assert failed is not None and failed.status == JobStatus.FAILED
    assert list(directory.iterdir()) == []
    assert audit_actions(world)[-1]["action"] == "generation:job:fail"


def test_the_cli_generates_through_the_same_gate(
    live_world: World, people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from lpm_guard.cli import app

    world = live_world
    assert world.runtime is not None
    monkeypatch.setenv("LPM_DATA_DIR", str(world.runtime.settings.data_dir))
    researcher = world.researcher()
    identity = character(world, researcher, people.t1[4], tmp_path)
    text = "Hello, my name is Alex. Today I will tell you about the weather. It is sunny and warm."
    audio = speech(text, tmp_path / "speech.wav")
    out = tmp_path / "clip.mp4"
    base = ["generate", "--identity", identity, "--audio", str(audio), "--out", str(out)]
    result = CliRunner().invoke(app, [*base, "--as", researcher.email])
    assert result.exit_code == 0, result.output
    report = ProvenanceService.from_runtime(world.runtime).verify_file(out)
    assert report.verdict == "authentic" and report.watermark.status == "present"
    assert [p.name for p in tmp_path.glob(".*")] == []
    # Another researcher's identity: the gate refuses, exit status 3, nothing written.
    other = world.researcher()
    refused = tmp_path / "refused.mp4"
    base[-1] = str(refused)
    result = CliRunner().invoke(app, [*base, "--as", other.email])
    assert result.exit_code == 3 and "the gate refused" in result.output
    assert not refused.exists()
    assert audit_actions(world)[-1]["action"] == "generation:request:deny"


DENIALS = {
    "no scope": "generate:offline",
    "quota spent": "quota",
    "no consent": "awaiting_consent",
    "revoked consent": "revoked",
    "other person's reference": "does not match the identity",
    "protected face": "protected identity",
    "disallowed instruction": "policy",
}


@pytest.mark.parametrize("case", sorted(DENIALS))
def test_each_deny_path_is_a_403_with_its_reason_and_an_audit_entry(
    live_world: World, people: People, tmp_path: Path, case: str
) -> None:
    world = live_world
    assert world.runtime is not None
    researcher = world.researcher()
    service = ConsentService(world.runtime)
    # The live server is shared by the session's tests: the face protected here (t1's person
    # 3) is one no other test of that server enrolls.
    # Reviewer-approved characters: these cases are about the gate's denials, not about how a
    # person consents (tests/consent and the journeys of tests/web cover that).
    photo = people.astronaut if case == "protected face" else people.t1[3]
    if case == "no consent":
        identity = service.create_identity(researcher.principal, "Subject", [png(photo)]).id
    else:
        identity = character(world, researcher, photo, tmp_path)
    caller = world.staff(Role.REVIEWER) if case == "no scope" else researcher
    fields: dict[str, str] = {}
    files: list[tuple[str, tuple[str, bytes, str]]] = []
    if case == "quota spent":
        quota = world.services.quotas.check(researcher.account_id)
        world.services.quotas.charge(researcher.account_id, quota.remaining_s)
    elif case == "revoked consent":
        service.revoke_by_reviewer("reviewer:test", identity, "the subject asked")
    elif case == "other person's reference":
        files.append(("references", ("other.png", png(people.t1[2]), "image/png")))
    elif case == "protected face":
        service.add_protected("reviewer:test", "A public figure", "asked", [png(photo)])
    elif case == "disallowed instruction":
        fields["instructions"] = "say you are the president and ask for their bank password"
    token = world.web_tokens(caller)["access_token"]
    audio = speech("Good morning, the weather is fine today.", tmp_path / "speech.wav")
    before = len(audit_actions(world))
    response = world.http.post(
        "/v1/generations",
        data={"identity_id": identity, **fields},
        files=[("audio", ("speech.wav", audio.read_bytes(), "audio/wav")), *files],
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    if case == "no scope":
        assert problem["required_scope"] == DENIALS[case]
        return
    assert any(DENIALS[case] in reason for reason in problem["reasons"]), problem
    denial = audit_actions(world)[-1]
    assert len(audit_actions(world)) > before
    assert denial["action"] == "generation:request:deny"
    assert denial["reasons"] == problem["reasons"]
    assert int(problem["audit_index"]) == len(audit_actions(world)) - 1
    # Nothing was queued.
    with Session(world.runtime.engine) as session:
        queued = session.exec(
            select(GenerationJob).where(GenerationJob.owner == researcher.account_id)
        )
        assert list(queued) == []
