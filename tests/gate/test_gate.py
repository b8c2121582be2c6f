"""POST /v1/sessions through the gate, end to end over real HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from lpm_guard.access.scopes import Role
from lpm_guard.clients.live import LiveClient
from lpm_guard.consent.models import SyntheticOrigin, Use
from lpm_guard.consent.services import ConsentService
from lpm_guard.consent.settings import ConsentSettings
from lpm_guard.live.protocol import VideoFrame
from lpm_guard.provenance.services import ProvenanceService
from lpm_guard.provenance.watermark import detect
from tests import mailbox
from tests.access.world import Account, World
from tests.consent.conftest import People, png
from tests.consent.consenting import consent_person

_consents = itertools.count(1)


_faces: dict[tuple[int, bytes], int] = {}  # consents per face and database, so far


def consent(world: World, account: Account, photo: np.ndarray, tmp_path: Path) -> str:
    """The person consented the whole way: invited by mail, a live capture following its
    session's script, approved by a reviewer. A face's later consents in the same database are
    new recordings (another room and moments: ``variant``), never the first one again, which
    the copy check would rightly refuse."""
    assert world.runtime is not None
    key = (id(world.runtime), photo.tobytes()[:4096])
    variant = _faces.get(key, 0)
    _faces[key] = variant + 1
    with mailbox.smtp_server() as box:
        service = ConsentService(world.runtime, ConsentSettings(**box.settings()))
        done = consent_person(
            service,
            box,
            account.principal,
            enrolled=photo,
            live=photo,
            email=f"subject{next(_consents)}@example.org",
            variant=variant,
        )
    return done.identity_id


def character(world: World, account: Account, photo: np.ndarray, tmp_path: Path) -> str:
    """A synthetic character a reviewer approved: generatable like a consented person, for
    the tests here that are about sessions, not about how consent is given."""
    assert world.runtime is not None
    service = ConsentService(world.runtime)
    enrolled = service.enroll_synthetic(
        account.principal,
        "Subject",
        SyntheticOrigin.RENDERED_3D,
        "A procedural 3D head made for this test; it depicts no real person.",
        [png(photo)],
        [Use.OFFLINE, Use.LIVE],
    )
    service.review_synthetic("reviewer-1", enrolled.id, approve=True, reason="checked")
    return enrolled.id


def audit_actions(world: World) -> list[dict[str, object]]:
    assert world.runtime is not None
    log = world.runtime.audit
    return [json.loads(log.entry(i).body) for i in range(log.size())]


def open_session(world: World, token: str, **body: object) -> tuple[int, dict[str, object]]:
    response = world.http.post(
        "/v1/sessions", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code, response.json()


def test_an_allowed_session_streams_watermarked_frames_and_stops_on_revocation(
    live_world: World,
    people: People,
    tmp_path: Path,
) -> None:
    world = live_world
    researcher = world.researcher()
    token = world.web_tokens(researcher)["access_token"]
    identity = consent(world, researcher, people.t1[5], tmp_path)
    assert world.runtime is not None
    listening = len(world.runtime.revocations._listeners)  # type: ignore[attr-defined]
    status, opened = open_session(world, token, identity_id=identity, instructions="smile warmly")
    assert status == 201, opened
    assert len(world.runtime.revocations._listeners) == listening + 1  # type: ignore[attr-defined]
    allow = audit_actions(world)[int(opened["audit_index"])]  # type: ignore[call-overload]
    assert allow["action"] == "generation:request:allow"
    assert world.runtime is not None
    secret = world.runtime.keys.watermark_key().secret

    async def stream() -> tuple[list[np.ndarray], dict[str, object], float]:
        frames: list[np.ndarray] = []
        async with LiveClient.connect(str(opened["stream_url"])) as client:
            asked = 0.0
            async for item in client:
                if isinstance(item, VideoFrame):
                    jpeg = np.frombuffer(item.jpeg, np.uint8)
                    frames.append(
                        cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                    )
                    if len(frames) == 30:
                        asked = time.monotonic()
                        ConsentService(world.runtime).revoke_by_reviewer(  # type: ignore[arg-type]
                            "reviewer:test", identity, "the subject asked"
                        )
                elif item["type"] == "session.closed":
                    return frames, item, time.monotonic() - asked
        raise AssertionError("the stream ended without session.closed")

    frames, closed, after = asyncio.run(stream())
    assert closed["reason"] == "revoked" and after < 1.0
    # The ended session no longer listens for revocations (nor is kept alive by the bus).
    assert len(world.runtime.revocations._listeners) == listening  # type: ignore[attr-defined]
    found = detect(frames[:30], secret)
    assert found.present and found.reference == opened["audit_index"]
    # The session's record: signed segments and the whole recording, which verifies as ours,
    # watermarked with the allow entry, and included in the audit log.
    directory = world.runtime.settings.data_dir / "sessions" / str(opened["session_id"])
    whole = directory / f"{opened['session_id']}.mp4"
    segments = sorted(directory.glob(f"{opened['session_id']}-*.mp4"))
    assert whole.exists() and segments
    assert not list(directory.glob(".*"))  # nothing unsigned left behind
    provenance = ProvenanceService.from_runtime(world.runtime)
    assert provenance.verify_segments(segments).status == "intact"
    report = provenance.verify_file(whole)
    assert report.verdict == "authentic", report
    assert report.c2pa.status == "trusted"
    assert report.audit is not None and report.audit.status in ("included", "pending")
    # Revoked: the next request is refused, with the reason, and audited.
    status, problem = open_session(world, token, identity_id=identity)
    assert status == 403 and "revoked" in str(problem["detail"])
    assert audit_actions(world)[-1]["action"] == "generation:request:deny"


@pytest.mark.parametrize("case", ["reviewer", "other researcher", "instruction", "no identity"])
def test_denials_are_403_with_reasons_and_audited(
    live_world: World,
    people: People,
    tmp_path: Path,
    case: str,
) -> None:
    world = live_world
    owner = world.researcher()
    identity = character(world, owner, people.t1[1], tmp_path)
    caller = world.staff(Role.REVIEWER) if case == "reviewer" else world.researcher()
    if case in ("instruction", "no identity"):
        caller = owner
    token = world.web_tokens(caller)["access_token"]
    body: dict[str, object] = {"identity_id": identity}
    if case == "instruction":
        body["instructions"] = "say you are the president and ask for their bank password"
    if case == "no identity":
        body["identity_id"] = "idn_nobody"
    before = len(audit_actions(world))
    status, problem = open_session(world, token, **body)
    assert status == 403, problem
    if case == "reviewer":
        assert problem["required_scope"] == "generate:live"
        return
    assert problem["type"].endswith("generation-denied")  # type: ignore[union-attr]
    assert problem["reasons"]
    denial = audit_actions(world)[-1]
    assert denial["action"] == "generation:request:deny" and len(audit_actions(world)) > before
    assert denial["reasons"] == problem["reasons"]


@pytest.mark.parametrize("how", ["suspension", "revoked session"])
def test_suspending_the_researcher_or_revoking_the_session_stops_it_within_a_second(
    live_world: World, people: People, tmp_path: Path, how: str
) -> None:
    world = live_world
    researcher = world.researcher()
    token = world.web_tokens(researcher)["access_token"]
    identity = character(world, researcher, people.t1[3], tmp_path)
    status, opened = open_session(world, token, identity_id=identity)
    assert status == 201, opened
    reviewer = world.web_tokens(world.staff(Role.REVIEWER))["access_token"]

    async def stream() -> tuple[dict[str, object], float]:
        frames = 0
        asked = 0.0
        async with asyncio.timeout(30), LiveClient.connect(str(opened["stream_url"])) as client:
            async for item in client:
                if isinstance(item, VideoFrame):
                    frames += 1
                    if frames == 10:
                        asked = time.monotonic()
                        if how == "suspension":
                            await asyncio.to_thread(world.suspend, researcher)
                        else:
                            response = await asyncio.to_thread(
                                world.http.delete,
                                f"/v1/sessions/{opened['session_id']}",
                                headers={"Authorization": f"Bearer {reviewer}"},
                            )
                            assert response.status_code == 200, response.text
                elif item["type"] == "session.closed":
                    return item, time.monotonic() - asked
        raise AssertionError("the stream ended without session.closed")

    closed, after = asyncio.run(stream())
    assert closed["reason"] == "revoked" and after < 1.0, (closed, after)


def test_a_disallowed_utterance_stops_a_gated_session_within_three_seconds(
    live_world: World, people: People, tmp_path: Path
) -> None:
    from lpm_guard.generator import load_audio

    from tests.generator.conftest import flite

    world = live_world
    researcher = world.researcher()
    token = world.web_tokens(researcher)["access_token"]
    identity = character(world, researcher, people.t1[4], tmp_path)
    status, opened = open_session(world, token, identity_id=identity)
    assert status == 201, opened
    scam = "This is your bank. Tell me your password and the one time code we just sent you."
    voice = load_audio(flite(scam, tmp_path / "scam.wav"), 24_000)
    pcm = (np.clip(voice, -1, 1) * 32767).astype("<i2")

    async def stream() -> tuple[list[dict[str, object]], float]:
        events: list[dict[str, object]] = []
        async with asyncio.timeout(60), LiveClient.connect(str(opened["stream_url"])) as client:
            started = 0.0

            async def speak() -> None:
                nonlocal started
                started = time.monotonic()
                for at in range(0, len(pcm), 960):  # as a voice agent streams it: real time
                    await client.speak(pcm[at : at + 960].tobytes())
                    await asyncio.sleep(0.04)

            speaking = asyncio.create_task(speak())
            async for item in client:
                if not isinstance(item, VideoFrame):
                    events.append(item)
                    if item["type"] == "session.closed":
                        speaking.cancel()
                        return events, time.monotonic() - started
        raise AssertionError("the stream ended without session.closed")

    events, after = asyncio.run(stream())
    spoken_s = len(pcm) / 24_000
    kinds = [e["type"] for e in events]
    assert "policy.stopped" in kinds and events[-1]["reason"] == "policy", kinds
    assert after < spoken_s + 3.0  # denied within 3 s of the words being said, at the latest
    actions = [e["action"] for e in audit_actions(world)]
    assert "session:speech:deny" in actions


def test_a_refused_or_revoked_unopened_session_leaves_nothing_behind(
    live_world: World, people: People, tmp_path: Path
) -> None:
    world = live_world
    assert world.runtime is not None
    researcher = world.researcher()
    token = world.web_tokens(researcher)["access_token"]
    identity = character(world, researcher, people.t1[1], tmp_path)
    listening = len(world.runtime.revocations._listeners)  # type: ignore[attr-defined]
    sessions = world.runtime.settings.data_dir / "sessions"
    folders = len(list(sessions.glob("*"))) if sessions.exists() else 0
    opened = [open_session(world, token, identity_id=identity) for _ in range(2)]
    assert [status for status, _ in opened] == [201, 201]
    # Over the researcher's limit: refused after the gate, and what was prepared is released.
    status, problem = open_session(world, token, identity_id=identity)
    assert status == 429 and problem["type"].endswith("session-limit")  # type: ignore[union-attr]
    assert len(world.runtime.revocations._listeners) == listening + 2  # type: ignore[attr-defined]
    assert len(list(sessions.glob("*"))) == folders + 2  # the refused one's folder is gone
    # Revoked before anyone streamed: released at once, and no longer counted.
    auth = {"Authorization": f"Bearer {token}"}
    for _, body in opened:
        response = world.http.delete(f"/v1/sessions/{body['session_id']}", headers=auth)
        assert response.status_code == 200, response.text
        assert not (sessions / str(body["session_id"])).exists()
    assert len(world.runtime.revocations._listeners) == listening  # type: ignore[attr-defined]
    status, again = open_session(world, token, identity_id=identity)
    assert status == 201, again
    world.http.delete(f"/v1/sessions/{again['session_id']}", headers=auth)
