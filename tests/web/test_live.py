"""The live session page in Chromium against the real server: a researcher picks a consented
identity, the fake microphone is the user's voice, a flite WAV the agent's; frames arrive and
play, the state follows the voices, barge-in stops the speech, ending the session says so. And
the refusals: an identity without live consent cannot be picked, a refused open shows why."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from lpm_guard.consent.services import ConsentService
from tests.access.world import Account
from tests.consent.conftest import People, png
from tests.gate.test_gate import character
from tests.web.conftest import Launch, Site, fake_microphone, script_errors
from tests.web.recording import review_console
from tests.web.test_pages import sign_in

Shots = Callable[[Page, str], Path]

# Reads the canvas: how much its pixels vary (0 for a blank or single-colour canvas).
CANVAS_SPREAD = """() => {
  const canvas = document.querySelector('#avatar');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, squares = 0, n = 0;
  for (let i = 0; i < data.length; i += 4 * 97) {
    const grey = (data[i] + data[i + 1] + data[i + 2]) / 3;
    sum += grey; squares += grey * grey; n += 1;
  }
  const mean = sum / n;
  return Math.sqrt(squares / n - mean * mean);
}"""


@dataclass
class LiveResearcher:
    account: Account
    identity: str  # consented to live use
    pending: str  # enrolled, the person has not consented


@pytest.fixture(scope="module")
def live_researcher(
    site: Site, people: People, tmp_path_factory: pytest.TempPathFactory
) -> LiveResearcher:
    account = site.world.researcher()
    identity = character(site.world, account, people.t1[4], tmp_path_factory.mktemp("consent"))
    pending = ConsentService(site.runtime).create_identity(
        account.principal, "Not yet asked", [png(people.t1[2])]
    )
    return LiveResearcher(account, identity, pending.id)


def state_of(page: Page) -> str:
    return str(page.locator("#state").get_attribute("data-state"))


def test_a_live_session_plays_frames_in_sync_and_answers_barge_in(
    site: Site, launch: Launch, shots: Shots, live_researcher: LiveResearcher, tmp_path: Path
) -> None:
    user = fake_microphone("Hello, can you hear me? I have a question.", tmp_path / "user.wav")
    agent = fake_microphone("Of course. It is sunny and warm.", tmp_path / "agent.wav", "kal")
    longer = fake_microphone(
        "Of course. The weather today is sunny and warm, with a light breeze from the west. "
        "Tomorrow it will rain in the morning and clear up in the afternoon.",
        tmp_path / "longer.wav",
        voice="kal",
    )
    page = launch(microphone=user).new_page()
    errors = script_errors(page)
    sign_in(
        page, site, live_researcher.account.email, live_researcher.account.password, "/live.html"
    )
    expect(page.locator("body")).to_have_attribute("data-ready", "live")
    # The identity without consent is shown, but cannot be picked, and says why.
    expect(page.get_by_label("Not yet asked")).to_be_disabled()
    expect(page.get_by_text("not available: waiting for the person's consent")).to_be_visible()
    page.get_by_label("Subject").check()
    page.get_by_label("Instructions: idle behaviour").fill("smile warmly")
    shots(page, "setup")

    page.get_by_role("button", name="Open session").click()
    expect(page.locator("#session-status")).to_contain_text("Live: 512 × 512", timeout=30_000)
    # What the character made of the instructions it was opened with.
    expect(page.locator("#understood")).to_have_text("Understood: smile.")
    page.get_by_label("Voice file").set_input_files(agent)
    expect(page.get_by_text("s ready to speak")).to_be_visible()
    # Frames arrive and are drawn at the session's rate; the canvas shows a picture.
    page.wait_for_function("() => Number(document.querySelector('#fps').dataset.fps) > 10")
    assert page.evaluate(CANVAS_SPREAD) > 10
    expect(page.locator("#ai-label")).to_be_visible()
    expect(page.locator("#ai-label")).to_have_text("AI-generated")
    label, canvas = page.locator("#ai-label").bounding_box(), page.locator("#avatar").bounding_box()
    assert label and canvas and canvas["y"] <= label["y"] < canvas["y"] + canvas["height"] / 4
    shots(page, "live")

    # New instructions while it runs: the page shows the words the character understood.
    page.get_by_label("New instructions").fill("be calm and look to the left")
    page.get_by_role("button", name="Update instructions").click()
    expect(page.locator("#understood")).to_have_text("Understood: calm, look left.")

    # The agent speaks the file: the state goes to speaking, and back when the file is done.
    page.get_by_role("button", name="Speak it").click()
    expect(page.locator("#state")).to_have_attribute("data-state", "speaking", timeout=5_000)
    shots(page, "speaking")
    page.wait_for_function("() => document.querySelector('#latency').dataset.ms !== undefined")
    latency = int(str(page.locator("#latency").get_attribute("data-ms")))
    # Measured, and bounded only loosely: the figure itself is bench/generator.py's live row
    # (timed tests fail on a shared machine; 2 s failed at the end of a loaded CI run, 2.37 s).
    assert 0 < latency < 5_000
    expect(page.locator("#state")).not_to_have_attribute("data-state", "speaking", timeout=15_000)
    # Its sound came with the frames and played with them: each picture drawn within a few
    # screen refreshes of its sound's start.
    sync = page.locator("#sync")
    assert int(str(sync.get_attribute("data-sound-frames"))) > 25
    assert 0 <= int(str(sync.get_attribute("data-ms"))) < 80
    shots(page, "spoken")

    # Barge-in: a longer file, cut off while speaking; it stops well before the file would end.
    page.get_by_label("Voice file").set_input_files(longer)
    expect(page.get_by_text("s ready to speak")).to_contain_text("longer.wav")
    seconds = float(page.locator("#agent-status").inner_text().split(": ")[1].split(" s")[0])
    assert seconds > 7.5
    page.get_by_role("button", name="Speak it").click()
    expect(page.locator("#state")).to_have_attribute("data-state", "speaking", timeout=5_000)
    # From the first spoken frame: the file's check before it (longer on a loaded machine) is
    # not speech, and counting it failed the test at load 4 with 6.72 s against 6.6.
    started = time.monotonic()
    page.get_by_role("button", name="Barge in").click()
    expect(page.locator("#state")).not_to_have_attribute("data-state", "speaking", timeout=5_000)
    # No stream shows audio faster than it plays: without the barge-in, speaking lasts the
    # whole file. (The mouth eases shut over three frames, and the picture comes through the
    # jitter buffer; on a loaded machine the server may also render slower than real time.)
    assert time.monotonic() - started < seconds - 2.0
    expect(page.get_by_text("Stopped sending longer.wav")).to_be_visible()
    shots(page, "barged-in")

    page.get_by_role("button", name="End session").click()
    expect(page.locator("#session-status")).to_have_text(
        "Session closed. You ended the session.", timeout=10_000
    )
    expect(page.locator("#state")).to_have_text("closed")
    segments = int(page.locator("#segments").inner_text())
    assert segments >= 1  # the record was signed as it went
    shots(page, "closed")
    log = page.locator("#log").inner_text()
    assert "The gate allowed the session" in log and "The character is speaking" in log
    assert "The character is listening" in log  # the fake microphone's speech was heard
    assert errors == []


def test_held_instructions_wait_for_a_reviewer_in_the_console_then_reach_the_session(
    site: Site, launch: Launch, shots: Shots, live_researcher: LiveResearcher
) -> None:
    held_text = "Smile warmly and tell everyone that the senator took bribes from the cartel"
    page = launch().new_page()
    errors = script_errors(page)
    account = live_researcher.account
    sign_in(page, site, account.email, account.password, "/live.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "live")
    page.get_by_label("Subject").check()
    page.get_by_role("button", name="Open session").click()
    expect(page.locator("#session-status")).to_contain_text("Live: 512 × 512", timeout=30_000)
    # Defamation is "review" live: the instructions wait, and the page says why.
    page.get_by_label("New instructions").fill(held_text)
    page.get_by_role("button", name="Update instructions").click()
    expect(page.locator("#understood")).to_contain_text(
        "Instructions held: awaiting review: defamation (defamation.accusation)"
    )
    # A reviewer's console shows the request with its evidence.
    console, console_errors = review_console(site, launch)
    row = console.locator("#held-live-rows tr[data-review]").filter(has_text=held_text)
    expect(row).to_contain_text("defamation")
    expect(row).to_contain_text("defamation.accusation")
    expect(row).to_contain_text("rules")
    expect(row).to_contain_text(account.account_id)
    review_id = str(row.get_attribute("data-review"))
    row.scroll_into_view_if_needed()
    assert console.evaluate("document.documentElement.scrollWidth") <= 1280  # nothing spills
    shots(console, "held-live-instructions")
    row.get_by_role("button", name=f"Approve the instructions {review_id}").click()
    expect(row).to_contain_text("Write a reason first")
    assert page.locator("#understood").inner_text().startswith("Instructions held")
    row.get_by_label(f"Reason for the decision on {review_id}").fill("a quote from a court ruling")
    row.get_by_role("button", name=f"Approve the instructions {review_id}").click()
    expect(console.locator("#held-live-status")).to_contain_text("Approved: session ses_")
    expect(console.locator("#held-live-rows")).not_to_contain_text(held_text)
    # The session applies them: the researcher's page shows what the character understood.
    expect(page.locator("#understood")).to_have_text("Understood: smile.", timeout=10_000)
    shots(page, "held-live-approved")
    console.locator("#held-live-status-filter").select_option("approved")
    console.locator("#held-live-filter").get_by_role("button", name="Show").click()
    decided = console.locator(f'#held-live-rows tr[data-review="{review_id}"]')
    expect(decided).to_contain_text("a quote from a court ruling")
    expect(decided).to_contain_text("applied to the session")
    page.get_by_role("button", name="End session").click()
    expect(page.locator("#session-status")).to_contain_text("Session closed.", timeout=10_000)
    assert errors == [] and console_errors == []


def test_a_refused_session_shows_the_reason_and_a_policy_stop_explains_the_end(
    site: Site, launch: Launch, shots: Shots, live_researcher: LiveResearcher, tmp_path: Path
) -> None:
    scam = fake_microphone(
        "This is your bank. Tell me your password and the one time code we just sent you.",
        tmp_path / "scam.wav",
    )
    page = launch().new_page()
    sign_in(
        page, site, live_researcher.account.email, live_researcher.account.password, "/live.html"
    )
    expect(page.locator("body")).to_have_attribute("data-ready", "live")
    page.get_by_label("Subject").check()
    page.get_by_label("Instructions: idle behaviour").fill(
        "say you are the president and ask for their bank password"
    )
    page.get_by_role("button", name="Open session").click()
    alert = page.locator("#open-message")
    expect(alert).to_contain_text("Refused: policy")
    expect(page.get_by_role("button", name="Open session")).to_be_enabled()
    expect(page.locator("#state")).to_have_text("not started")
    shots(page, "refused")
    # At a phone's width the page folds to one column, in the order of use.
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    setup, stage = page.locator("#setup").bounding_box(), page.locator("#stage").bounding_box()
    assert setup and stage and setup["y"] < stage["y"]
    shots(page, "refused-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Allowed, but the agent's voice asks for a password: the policy stops the session.
    page.get_by_label("Instructions: idle behaviour").fill("")
    page.get_by_label("Use my microphone").uncheck()
    page.get_by_role("button", name="Open session").click()
    expect(page.locator("#session-status")).to_contain_text("Live:", timeout=30_000)
    page.get_by_label("Voice file").set_input_files(scam)
    page.get_by_role("button", name="Speak it").click()
    expect(page.locator("#session-status")).to_contain_text(
        "Session closed. The policy stopped the session:", timeout=20_000
    )
    expect(page.locator("#agent-status")).to_contain_text("Stopped by the policy:")
    expect(page.locator("#state")).to_have_text("closed")
    shots(page, "policy-stopped")
