"""The public verify page in Chromium against the real server, no sign-in: a signed MP4 that an
offline generation made reads as trusted with the watermark found; a re-encoded copy reads as
having no credentials but traced to its audit entry by the watermark; a file that is not a video
gets a plain refusal. At a phone's width the report still reads."""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest
from playwright.sync_api import Page, expect

from tests.consent.conftest import People
from tests.gate.test_gate import character
from tests.web.conftest import Launch, Site, fake_microphone, script_errors

Shots = Callable[[Page, str], Path]


@pytest.fixture(scope="module")
def generated(
    site: Site, people: People, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int]:
    """A signed, watermarked MP4 from an offline generation through the gate, and its audit
    entry (the generation's "allowed" entry, which the watermark carries). Of a synthetic
    character a reviewer approved: these tests are about the verify page, not about how a
    person consents (test_journey.py and test_dashboard.py generate consented people). Its
    face is t1[4], which the session's site only ever enrols as a synthetic character: t1[5]
    collided with the person test_dashboard.py consents when it ran first
    on the same worker (IdentityCollision in a clean-clone run)."""
    folder = tmp_path_factory.mktemp("generated")
    world = site.world
    researcher = world.researcher()
    identity = character(world, researcher, people.t1[4], folder)
    speech = fake_microphone("Hello, this is a short test of the verify page.", folder / "say.wav")
    auth = {"Authorization": f"Bearer {world.web_tokens(researcher)['access_token']}"}
    with speech.open("rb") as audio:
        response = world.http.post(
            "/v1/generations",
            data={"identity_id": identity},
            files={"audio": ("say.wav", audio, "audio/wav")},
            headers=auth,
        )
    assert response.status_code == 202, response.text
    job = response.json()
    deadline = time.monotonic() + 240
    while (status := world.http.get(f"/v1/generations/{job['id']}", headers=auth).json())[
        "status"
    ] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status["status"] == "succeeded", status
    video = world.http.get(f"/v1/generations/{job['id']}/video", headers=auth)
    path = folder / "generated.mp4"
    path.write_bytes(video.content)
    return path, int(job["audit_index"])


def reencode(source: Path, target: Path, crf: int = 20) -> Path:
    """What a platform does on upload: decode, encode again with libx264 (the manifest is lost)."""
    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        first = True
        for index, picture in enumerate(inp.decode(video=0)):
            if first:
                stream.width, stream.height = picture.width, picture.height
                stream.pix_fmt, stream.options = "yuv420p", {"crf": str(crf), "preset": "veryfast"}
                first = False
            frame = av.VideoFrame.from_ndarray(picture.to_ndarray(format="rgb24"), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return target


def upload(page: Page, path: Path) -> None:
    page.get_by_label("Drop a video file here, or choose one").set_input_files(path)


@pytest.mark.slow  # started with the slow tests (tests/conftest.py), not last
def test_our_clip_reads_trusted_and_a_reencoded_copy_is_traced(
    site: Site, launch: Launch, shots: Shots, generated: tuple[Path, int], tmp_path: Path
) -> None:
    clip, entry = generated
    page = launch().new_page()
    errors = script_errors(page)
    page.goto(f"{site.url}/verify.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "verify")
    shots(page, "empty")

    upload(page, clip)
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "authentic", timeout=60_000)
    expect(page.locator("#verdict-badge")).to_have_text("Made with lpm-guard, unaltered")
    expect(page.locator("#c2pa-badge")).to_have_text("Valid and trusted")
    expect(page.locator("#c2pa-summary")).to_contain_text("signed under lpm-guard's root")
    expect(page.locator("#watermark-badge")).to_have_text("Found")
    expect(page.locator("#watermark-facts")).to_contain_text(f"(audit entry {entry})")
    expect(page.locator("#audit-badge")).to_have_text("Included")
    expect(page.locator("#audit-summary")).to_contain_text(
        f"Entry {entry} is in our public audit log"
    )
    expect(
        page.get_by_text("the video and sound are exactly those that were signed")
    ).to_be_visible()
    # The raw report is one click away.
    raw = page.locator("#raw-json")
    expect(raw).to_be_hidden()
    page.get_by_text("Show the raw report (JSON)").click()
    expect(raw).to_contain_text('"verdict": "authentic"')
    shots(page, "trusted")
    # At a phone's width nothing runs off the side.
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shots(page, "trusted-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    copy = reencode(clip, tmp_path / "reuploaded.mp4")
    upload(page, copy)
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "traced", timeout=60_000)
    expect(page.locator("#c2pa-badge")).to_have_text("None")
    expect(page.locator("#watermark-badge")).to_have_text("Found")
    expect(page.locator("#verdict")).to_contain_text(f"traces it to entry {entry} of our audit log")
    expect(page.locator("#audit-facts")).to_contain_text("the watermark's reference")
    shots(page, "traced")
    assert errors == []


def test_a_file_that_is_not_a_video_gets_a_plain_refusal(
    site: Site, launch: Launch, shots: Shots, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("These are my notes, not a video.\n" * 20)
    page = launch().new_page()
    page.goto(f"{site.url}/verify.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "verify")
    upload(page, notes)
    alert = page.get_by_role("alert").filter(has_text="This is not a video we can read")
    expect(alert).to_be_visible(timeout=30_000)
    expect(page.locator("#report")).to_be_hidden()
    shots(page, "not-a-video")
