"""Behaviour: blink rates, backchannel nods, instructions, smoothness and long-run stability."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import numpy as np
import pytest
from lpm_guard.generator.behaviour import BROW_SPEED, GAZE_SPEED, SMILE_SPEED, Behaviour
from lpm_guard.generator.controls import SILENCE, FaceControls, State, VoiceFrame
from lpm_guard.generator.instructions import Mood

FPS = 25
POSE_STEP = 0.02  # rad per frame at 25 fps
MOUTH = ("jaw_open", "lip_width", "lip_round", "lip_close")
CHANNELS = ("yaw", "pitch", "roll", "smile", "brow_raise", "blink", "gaze_x", "gaze_y", "breath")
STEP_LIMIT = {
    "yaw": POSE_STEP,
    "pitch": POSE_STEP,
    "roll": POSE_STEP,
    "smile": SMILE_SPEED / FPS + 1e-9,
    "brow_raise": BROW_SPEED / FPS + 1e-9,
    "blink": 0.55,
    "gaze_x": GAZE_SPEED / FPS + 1e-9,
    "gaze_y": GAZE_SPEED / FPS + 1e-9,
    "breath": 0.1,
}


def talk(seconds: float, seed: int = 0, pitch_rel: float | None = None) -> list[VoiceFrame]:
    """Speech-like frames: syllables at about 4 Hz in runs of 0.8-3 s between short pauses."""
    rng = np.random.default_rng(seed)
    frames: list[VoiceFrame] = []
    total = round(seconds * FPS)
    while len(frames) < total:
        run = round(rng.uniform(0.8, 3.0) * FPS)
        for i in range(run):
            energy = 0.3 + 0.3 * max(0.0, math.sin(2 * math.pi * 4 * i / FPS + rng.normal(0, 0.3)))
            tone = 0.5 * math.sin(2 * math.pi * 0.5 * i / FPS) if pitch_rel is None else pitch_rel
            frames.append(
                VoiceFrame(
                    energy=energy,
                    voiced=1.0,
                    pitch=150.0,
                    pitch_rel=tone,
                    jaw_open=0.5,
                    lip_width=0.3,
                )
            )
        frames += [SILENCE] * round(rng.uniform(0.1, 0.45) * FPS)
    return frames[:total]


def quiet(seconds: float) -> list[VoiceFrame]:
    return [SILENCE] * round(seconds * FPS)


def run(
    b: Behaviour,
    agent: Iterable[VoiceFrame] = (),
    user: Iterable[VoiceFrame] = (),
    seconds: float | None = None,
) -> list[tuple[FaceControls, State]]:
    """Step ``b`` over the voices (silence where one runs out) or over ``seconds`` of silence."""
    a, u = list(agent), list(user)
    n = max(len(a), len(u)) if seconds is None else round(seconds * FPS)
    a += [SILENCE] * (n - len(a))
    u += [SILENCE] * (n - len(u))
    return [b.step(x, y) for x, y in zip(a, u, strict=True)]


def series(frames: list[tuple[FaceControls, State]], name: str) -> np.ndarray:
    return np.array([getattr(c, name) for c, _ in frames])


def assert_smooth(frames: list[tuple[FaceControls, State]]) -> None:
    for name in CHANNELS:
        jumps = np.abs(np.diff(series(frames, name)))
        assert jumps.max() <= STEP_LIMIT[name], (name, jumps.max())
    for name in MOUTH:
        assert not series(frames, name).any(), name


def test_same_seed_same_output() -> None:
    agent, user = talk(20, seed=1) + quiet(20), quiet(20) + talk(20, seed=2)
    first, second = Behaviour(seed=7), Behaviour(seed=7)
    for b in (first, second):
        b.instruct("smile and nod slowly")
    assert run(first, agent, user) == run(second, agent, user)
    assert run(Behaviour(seed=8), agent, user) != run(Behaviour(seed=7), agent, user)


def test_blinks_at_rest() -> None:
    b = Behaviour(fps=FPS, seed=3)
    frames = run(b, seconds=600)
    assert {s for _, s in frames} == {State.IDLE}
    assert 12 <= b.blinks_started / 10 <= 22
    blink = series(frames, "blink")
    assert blink.max() == pytest.approx(1.0)
    # a blink lasts 100-400 ms: 3-9 frames off 0 at 25 fps (twice that and a gap if double)
    edges = np.flatnonzero(np.diff(np.r_[0, (blink > 0).astype(int), 0]))
    lengths = edges[1::2] - edges[::2]
    assert lengths.min() >= 3 and lengths.max() <= 2 * 9 + 1


def test_blinks_in_conversation() -> None:
    b = Behaviour(fps=FPS, seed=4)
    frames = run(b, agent=talk(300, seed=5), user=quiet(300) + talk(300, seed=6))
    assert {s for _, s in frames} <= {State.SPEAKING, State.LISTENING}
    assert 20 <= b.blinks_started / 10 <= 32


def test_idle_head_stays_small() -> None:
    frames = run(Behaviour(seed=5), seconds=300)
    for name in ("yaw", "pitch", "roll"):
        assert np.abs(series(frames, name)).max() <= 0.1
    assert np.abs(series(frames, "gaze_x")).max() > 0.2  # the eyes wander when idle
    breath = series(frames, "breath")
    crossings = np.count_nonzero(np.diff(np.sign(breath)) > 0)
    assert 0.2 <= crossings / 300 <= 0.3  # about 0.25 Hz


def test_nod_after_the_users_pause() -> None:
    b = Behaviour(seed=6)
    speech = [VoiceFrame(energy=0.5, voiced=1.0, pitch=140.0, pitch_rel=0.0, jaw_open=0.7)] * 50
    during = run(b, user=speech)
    assert b.nods_started == 0
    after = run(b, user=quiet(1.6))
    assert b.nods_started == 1
    assert b.state is State.LISTENING and b.time == pytest.approx(3.6)
    assert {s for _, s in during + after} == {State.LISTENING}
    pitch = series(after, "pitch")
    assert pitch[:30].max() - pitch[0] > 0.04  # chin down within 1.2 s of the pause
    assert_smooth(during + after)  # and the user's mouth never reaches the portrait's


def test_nods_at_low_pitch() -> None:
    b = Behaviour(seed=7)
    plain = VoiceFrame(energy=0.5, voiced=1.0, pitch=140.0, pitch_rel=0.1)
    low = VoiceFrame(energy=0.5, voiced=1.0, pitch=110.0, pitch_rel=-0.5)
    run(b, user=([plain] * 40 + [low] * 8) * 6)  # no pauses: only the low pitch cues nods
    assert b.nods_started >= 2


def test_states() -> None:
    b = Behaviour(seed=8)
    speech = talk(10, seed=1)
    states = [s for _, s in run(b, agent=speech)]
    assert set(states) == {State.SPEAKING}  # pauses under 0.5 s stay speaking
    assert [s for _, s in run(b, seconds=1)][-1] is State.IDLE
    states = [s for _, s in run(b, user=talk(5, seed=2) + quiet(1))]
    assert set(states[3:]) == {State.LISTENING}
    # A turn holds listening while the reply is awaited, a while.
    assert [s for _, s in run(b, seconds=3.4)][-1] is State.LISTENING
    assert [s for _, s in run(b, seconds=0.2)][-1] is State.IDLE


def test_listening_holds_through_the_users_turn() -> None:
    b = Behaviour(seed=8)
    # Two sentences with a 3 s pause between them (thinking), then silence: listening
    # throughout and while the reply is awaited; the agent's answer ends the turn.
    turn = talk(2, seed=3) + quiet(3) + talk(2, seed=4) + quiet(3)
    states = [s for _, s in run(b, user=turn)]
    assert set(states[3:]) == {State.LISTENING}
    reply = [s for _, s in run(b, agent=talk(1, seed=5) + quiet(3))]
    assert reply[0] is State.SPEAKING and reply[-1] is State.IDLE
    # A cough (a short burst) is no turn: idle again after the short hang.
    states = [s for _, s in run(b, user=talk(0.3, seed=6) + quiet(2.5))]
    assert states[-1] is State.IDLE


def test_speaking_follows_prosody_and_looks_at_the_viewer() -> None:
    b = Behaviour(seed=9)
    idle = run(b, seconds=30)
    speaking = run(b, agent=talk(120, seed=3))
    assert b.beats_started > 60 and b.aversions_started > 5
    assert series(speaking, "brow_raise").mean() > series(idle, "brow_raise").mean() + 0.02
    gaze = np.hypot(series(speaking, "gaze_x"), series(speaking, "gaze_y"))
    assert np.mean(gaze < 0.15) > 0.6
    assert_smooth(idle + speaking)


@pytest.mark.parametrize(
    ("text", "understood"),
    [
        ("Smile warmly", ["smile"]),
        ("look thoughtful", ["thoughtful"]),
        ("nod slowly", ["nod slowly"]),
        ("Look to the LEFT.", ["look left"]),
        ("calm", ["calm"]),
        ("be excited!", ["excited"]),
        ("look up, then look down and to the right", ["look up", "look down", "look right"]),
        ("frown", ["serious"]),
        ("be serious", ["serious"]),
        ("happy", ["happy"]),
        ("sad", ["sad"]),
        ("raise your eyebrows", ["raise eyebrows"]),
        ("stop nodding", ["stop nodding"]),
        ("neutral", ["neutral"]),
        ("reset", ["neutral"]),
        ("don't look sad", []),
        ("look right at me", ["look at viewer"]),
        ("look happy and turn left", ["happy", "look left"]),
        ("smile, then smile more", ["smile"]),
    ],
)
def test_instructions_understood(text: str, understood: list[str]) -> None:
    assert Behaviour().instruct(text) == understood


def test_unknown_instructions_change_nothing() -> None:
    told, untold = Behaviour(seed=10), Behaviour(seed=10)
    assert told.instruct("dance the tango, please") == []
    assert told.instruct("") == []
    assert told.mood == Mood()
    agent, user = talk(10, seed=4), quiet(10) + talk(10, seed=5)
    assert run(told, agent, user) == run(untold, agent, user)


def test_smile_warmly_rises_smoothly() -> None:
    b = Behaviour(seed=11)
    run(b, seconds=2)
    assert b.instruct("smile warmly") == ["smile"]
    frames = run(b, seconds=3)
    smile = series(frames, "smile")
    assert smile[0] < 0.05 < 0.5 < smile[-1]
    assert np.all(np.diff(smile) >= -1e-9)
    assert_smooth(frames)
    b.instruct("neutral")
    assert b.mood == Mood()
    assert series(run(b, seconds=4), "smile")[-1] < 0.05


def test_calm_and_excited_change_head_motion() -> None:
    spread = {}
    for text in ("calm", "", "excited"):
        b = Behaviour(seed=12)
        b.instruct(text)
        frames = run(b, seconds=60)[50:]
        spread[text] = series(frames, "yaw").std() + series(frames, "roll").std()
    assert spread["calm"] < 0.8 * spread[""] and spread["excited"] > 1.2 * spread[""]


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("look to the left", 1.0),  # the character's left: the viewer's right, positive
        ("look right", -1.0),
        ("look to my left", -1.0),  # the viewer's left
    ],
)
def test_look_sideways(text: str, side: float) -> None:
    told, untold = Behaviour(seed=13), Behaviour(seed=13)
    told.instruct(text)
    shift = {
        name: side
        * (
            series(run(told, seconds=10), name)[50:] - series(run(untold, seconds=10), name)[50:]
        ).mean()
        for name in ("gaze_x", "yaw")
    }
    assert shift["gaze_x"] > 0.3 and shift["yaw"] > 0.1


def test_look_up_and_down() -> None:
    told = Behaviour(seed=14)
    told.instruct("look up")
    up = run(told, seconds=5)
    told.instruct("look down")
    down = run(told, seconds=5)
    assert series(up, "gaze_y")[50:].mean() < -0.2 < 0.2 < series(down, "gaze_y")[50:].mean()
    assert series(up, "pitch")[50:].mean() < 0 < series(down, "pitch")[50:].mean()


def test_nodding_on_request() -> None:
    b = Behaviour(seed=15)
    b.instruct("nod")
    run(b, seconds=30)
    assert 10 <= b.nods_started <= 25
    b.instruct("stop nodding")
    run(b, seconds=2)
    nods = b.nods_started
    run(b, seconds=30)
    assert b.nods_started == nods


def test_transitions_and_mood_changes_are_smooth() -> None:
    b = Behaviour(seed=16)
    frames = run(b, seconds=3)
    for text, agent, user in [
        ("excited", talk(8, seed=1), quiet(8)),
        ("look to the left and frown", quiet(3), talk(8, seed=2)),
        ("calm, look up and smile broadly", talk(5, seed=3), quiet(2)),
        ("happy, nod", quiet(1), talk(6, seed=4)),
        ("reset", talk(4, seed=5), quiet(4)),
        ("sad and look down", quiet(4), quiet(4)),
        ("look at me and stop nodding", talk(6, seed=6), quiet(6)),
    ]:
        b.instruct(text)
        frames += run(b, agent=agent, user=user)
    assert_smooth(frames)


def test_long_run_stays_bounded_without_drift() -> None:
    """45 minutes of idle, speaking and listening in turns: bounded, centred, and fast."""
    agent: list[VoiceFrame] = []
    user: list[VoiceFrame] = []
    for cycle in range(30):  # 90 s a cycle
        agent += quiet(20) + talk(35, seed=cycle) + quiet(35)
        user += quiet(55) + talk(35, seed=100 + cycle)
    b = Behaviour(seed=17)
    start = time.perf_counter()
    frames = run(b, agent=agent, user=user)
    per_step = (time.perf_counter() - start) / len(frames)
    assert len(frames) == 45 * 60 * FPS
    assert per_step < 1e-3  # about 20 us uninstrumented; the budget is 0.2 ms
    assert_smooth(frames)
    tenth = len(frames) // 10
    for name in ("yaw", "pitch", "roll"):
        values = series(frames, name)
        assert np.abs(values).max() < 0.3
        assert abs(values.mean()) < 0.03
        assert abs(values[:tenth].mean() - values[-tenth:].mean()) < 0.02
    for name in ("gaze_x", "gaze_y", "smile", "brow_raise"):
        assert abs(series(frames, name).mean()) < 0.1
    minutes = len(frames) / FPS / 60
    assert 17 <= b.blinks_started / minutes <= 26
    assert b.nods_started > 30 and b.beats_started > 300


def test_fps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="fps"):
        Behaviour(fps=0)


def test_idle_and_listening_show_small_micro_expressions() -> None:
    b = Behaviour(seed=10)
    idle = run(b, seconds=40)
    for name in ("brow_raise", "smile"):
        values = series(idle, name)
        assert 0.05 < np.abs(values).max() <= 0.4, name
    assert_smooth(idle)


def test_a_listener_smiles_back_at_a_laugh() -> None:
    b = Behaviour(seed=11)
    plain = VoiceFrame(energy=0.5, voiced=1.0, pitch=140.0, pitch_rel=0.0)
    ha = VoiceFrame(energy=0.8, voiced=1.0, pitch=260.0, pitch_rel=0.8)
    before = run(b, user=[plain] * 25)
    laugh = run(b, user=([ha] * 4 + [plain] * 2) * 5 + [plain] * 25)  # "ha-ha-ha-ha-ha"
    assert series(laugh, "smile").max() > series(before, "smile").max() + 0.25
    assert_smooth(before + laugh)
