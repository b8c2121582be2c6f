"""The portrait's non-mouth behaviour (blinks, breath, head motion, gaze), one video frame a step.

``Behaviour.step`` reads the agent's and the user's voice for the frame and returns the face
controls with the mouth left at 0 (the caller fills it from the agent's voice) and the
conversational state. Instructions (``Behaviour.instruct``) change mood *targets*; every control
reaches its target through a critically damped spring and a per-second speed limit, so nothing pops:
at 25 fps the head moves at most 0.018 rad a frame, and only the eyelids move faster (a blink).
"""

from __future__ import annotations

import math

import numpy as np

from .controls import FaceControls, State, VoiceFrame
from .instructions import NEUTRAL_MOOD, Mood, apply, parse

# Blinks per minute: 17 at rest, 26 in conversation (Bentivoglio et al. 1997, Mov Disord 12:1028).
BLINKS_AT_REST = 17.0
BLINKS_IN_CONVERSATION = 26.0
_DOUBLE_BLINK = 0.07  # share of blinks followed at once by a second one
_BLINK_INTERVAL_SHAPE = 2.0  # gamma-distributed intervals, coefficient of variation 0.7
# A blink lasts 100-400 ms, the lid closing about twice as fast as it reopens.
_BLINK_SECONDS = (0.1, 0.4)
_BREATH_HZ = 0.25  # 15 breaths a minute; adults at rest take 12-20

# Speed limits, per second: at 25 fps 0.018 rad, 0.04 and 0.08 a frame.
POSE_SPEED = 0.45
SMILE_SPEED = 1.0
BROW_SPEED = 2.0
GAZE_SPEED = 8.0  # saccades: a jump of 0.5 takes about two frames
_BREATH_SPEED = 2.0

_SPEAKING_HANG = 0.5  # s of agent silence still counted as speaking
_LISTENING_HANG = 2.0  # s after the user's voice ends still counted as listening
# A user's turn (at least this much speech since the agent last spoke) holds listening through
# its pauses and while the reply is awaited, up to _TURN_HOLD s of the user's silence.
_TURN_SPEECH = 1.0
_TURN_HOLD = 4.5
_PHRASE_GAP = 0.3  # s of agent silence before a new phrase
_USER_GAP = 0.2  # s of user silence that ends a run of speech (a pause)
_DRIFT_LIMIT = 0.07  # rad, soft bound of the head's drift; with the eyes' pull, idle stays in ±0.1
# Listener backchannels (Ward & Tsukahara 2000, J Pragmatics 32:1177): a region of low pitch
# lasting 110 ms, after at least 700 ms of speech, at least 800 ms after the previous one.
_LOW_PITCH = -0.3
_LOW_PITCH_SECONDS = 0.11
_SPEECH_BEFORE_LOW_PITCH = 0.7
_NOD_REFRACTORY = 0.8
# A laugh or an exclamation: the user's voice high (pitch) and loud for about 0.3 s.
_HIGH_PITCH = 0.4
_LOUD = 0.6
_HIGH_SECONDS = 0.3
_BEAT_GAP = 0.5  # s between head beats: stressed syllables, not every syllable
_SPEECH_BEFORE_PAUSE = 0.6  # s of speech before a pause cues a nod
# A listener's nod: chin down 0.06-0.12 rad and back in 0.5-0.8 s.
_NOD_RAD = (0.06, 0.12)
_NOD_SECONDS = (0.55, 0.8)
_MICRO_GAP = (3.0, 8.0)  # s between micro-expressions when not speaking


class _Spring:
    """A critically damped spring: reaches a new target smoothly, without overshoot."""

    __slots__ = ("_decay", "_dt", "_omega", "v", "x")

    def __init__(self, omega: float, dt: float) -> None:
        self._omega, self._dt, self._decay = omega, dt, math.exp(-omega * dt)
        self.x = self.v = 0.0

    def step(self, target: float) -> float:
        offset = self.x - target
        push = (self.v + self._omega * offset) * self._dt
        self.v = (self.v - self._omega * push) * self._decay
        self.x = target + (offset + push) * self._decay
        return self.x


class _Drift:
    """Smooth zero-mean noise of about unit spread: an Ornstein-Uhlenbeck process, low-passed."""

    __slots__ = ("_keep", "_kick", "_lag", "x", "y")

    def __init__(self, seconds: float, dt: float) -> None:
        self._keep = math.exp(-dt / seconds)
        self._kick = math.sqrt(1.0 - self._keep**2) * 1.25
        self._lag = 1.0 - math.exp(-2.0 * dt / seconds)
        self.x = self.y = 0.0

    def step(self, z: float) -> float:
        self.x = self._keep * self.x + self._kick * z
        self.y += self._lag * (self.x - self.y)
        return self.y


class _Pulse:
    """A raised-cosine bump of height ``amp`` over ``length`` seconds from ``start``."""

    __slots__ = ("amp", "length", "start")

    def __init__(self, start: float, length: float, amp: float) -> None:
        self.start, self.length, self.amp = start, length, amp

    def at(self, t: float) -> float:
        u = (t - self.start) / self.length
        return self.amp * 0.5 * (1.0 - math.cos(2.0 * math.pi * u)) if 0.0 < u < 1.0 else 0.0


def _pulses_at(pulses: list[_Pulse], t: float) -> float:
    if pulses and pulses[0].start + pulses[0].length <= t:
        pulses[:] = [p for p in pulses if p.start + p.length > t]
    return sum(p.at(t) for p in pulses)


def _toward(current: float, target: float, limit: float) -> float:
    return current + max(-limit, min(limit, target - current))


class Behaviour:
    """Non-mouth behaviour of a live portrait; one ``step`` per video frame.

    Deterministic: the same ``seed`` and the same inputs give the same outputs. Counters
    (``blinks_started``, ``nods_started``, ``beats_started``, ``aversions_started``) count events
    since construction.
    """

    def __init__(self, fps: int = 25, seed: int = 0) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.fps = fps
        self._dt = dt = 1.0 / fps
        # Separate streams so that, say, a mood's blink rate leaves the head's noise unchanged.
        head, blink, gaze, event, micro = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
        )
        self._head_rng, self._blink_rng, self._gaze_rng, self._rng = head, blink, gaze, event
        self._micro_rng = micro
        self._micro_next = float(micro.uniform(*_MICRO_GAP))
        self._noise: list[float] = []
        self._noise_at = 0
        self.blinks_started = self.nods_started = self.beats_started = self.aversions_started = 0
        self._frame = 0
        self._target = NEUTRAL_MOOD
        self._state = State.IDLE
        # voices
        self._agent_quiet = self._user_quiet = math.inf
        self._user_run = self._low_run = self._turn = self._high_run = 0.0
        self._high_next = 0.0
        self._pause_cued = self._low_cued = False
        self._loud_fast = self._loud_slow = self._tone = 0.0
        self._last_beat = -math.inf
        # events
        self._pitch_pulses: list[_Pulse] = []
        self._brow_pulses: list[_Pulse] = []
        self._smile_pulses: list[_Pulse] = []
        self._nod_due: float | None = None
        self._nod_next: float | None = None
        self._nod_end = -math.inf
        # slowly varying gains (first-order lags)
        self._lag = 1.0 - math.exp(-dt / 1.0)
        self._motion = self._blink_gain = self._tempo = 1.0
        self._liveliness = 1.0  # head-motion gain of the state: 1, or 1.6 while speaking
        self._breath_amp = 0.8
        self._breath_phase = 0.0
        # pose and expression: springs towards targets, then speed limits
        self._springs = {
            name: _Spring(3.0, dt) for name in ("yaw", "pitch", "roll", "smile", "brow")
        }
        self._drifts = {
            "yaw": _Drift(1.5, dt),
            "pitch": _Drift(1.0, dt),
            "roll": _Drift(2.0, dt),
            "breath": _Drift(6.0, dt),
        }
        self._out = FaceControls()
        # gaze
        self._gaze_target = (0.0, 0.0)
        self._gaze_bias = [0.0, 0.0]
        self._gaze = [0.0, 0.0]
        self._fixation = 0.5
        self._averted = False
        # blinks
        self._blink_phase = 0.0
        self._blink_need = self._blink_interval()
        self._blink_frames: list[float] = []
        self._double_due = False

    @property
    def mood(self) -> Mood:
        """The mood the behaviour is moving towards."""
        return self._target

    @property
    def state(self) -> State:
        """The state returned by the last ``step``."""
        return self._state

    @property
    def time(self) -> float:
        """Seconds stepped so far."""
        return self._frame * self._dt

    def instruct(self, text: str) -> list[str]:
        """Apply the instructions understood in ``text``; return them (e.g. ``["smile"]``)."""
        understood: list[str] = []
        # The instructed expression takes the face: no micro-expression for a while.
        self._micro_next = max(self._micro_next, self.time + _MICRO_GAP[1] / 2)
        for cue, intensity in parse(text):
            self._target = apply(self._target, cue, intensity)
            if cue.value not in understood:
                understood.append(cue.value)
        return understood

    def step(self, agent: VoiceFrame, user: VoiceFrame) -> tuple[FaceControls, State]:
        """One frame: ``agent`` is the voice the portrait speaks, ``user`` the one it hears."""
        dt, t, mood = self._dt, self._frame * self._dt, self._target
        self._frame += 1
        state, phrase_start = self._hear(agent, user, t)
        if state is not self._state:
            self._fixation = min(self._fixation, 0.15)  # look where the new state wants
            self._state = state
        talking, speaking = state is not State.IDLE, state is State.SPEAKING

        lag = self._lag
        self._motion += lag * (mood.motion - self._motion)
        self._blink_gain += lag * (mood.blink - self._blink_gain)
        self._tempo += lag * (mood.tempo - self._tempo)
        self._liveliness += lag * (1.0 + 0.6 * float(speaking) - self._liveliness)

        self._nods(mood, t)
        if not speaking and t >= self._micro_next:
            self._micro(t)
        gaze_x, gaze_y = self._look(state, phrase_start, mood, dt)

        # head: springs to the mood's pose and towards where the eyes look, plus drift and pulses
        springs, drifts, motion = self._springs, self._drifts, self._motion
        z = self._normals()
        spread = motion * self._liveliness
        yaw = springs["yaw"].step(mood.yaw + 0.04 * self._gaze_target[0]) + _soft(
            0.03 * spread * drifts["yaw"].step(z[0])
        )
        pitch = (
            springs["pitch"].step(mood.pitch + 0.03 * self._gaze_target[1])
            + _soft(0.018 * spread * drifts["pitch"].step(z[1]))
            - 0.04 * motion * self._tone
            + _pulses_at(self._pitch_pulses, t)
        )
        roll = springs["roll"].step(mood.roll) + _soft(0.015 * spread * drifts["roll"].step(z[2]))
        brow = (
            springs["brow"].step(mood.brow)
            + 0.2 * max(0.0, self._tone)
            + _pulses_at(self._brow_pulses, t)
        )
        smile = springs["smile"].step(mood.smile) + _pulses_at(self._smile_pulses, t)

        self._breath_amp += lag * (0.8 - 0.3 * float(speaking) - self._breath_amp)
        hz = _BREATH_HZ * (0.8 + 0.2 * motion) * (1.0 + 0.1 * drifts["breath"].step(z[3]))
        self._breath_phase = (self._breath_phase + 2.0 * math.pi * hz * dt) % (2.0 * math.pi)

        out = self._out
        pose, smile_step, brow_step = POSE_SPEED * dt, SMILE_SPEED * dt, BROW_SPEED * dt
        self._out = out = FaceControls(
            smile=_clip(_toward(out.smile, smile, smile_step), 1.0),
            brow_raise=_clip(_toward(out.brow_raise, brow, brow_step), 1.0),
            blink=self._blink(talking),
            yaw=_clip(_toward(out.yaw, yaw, pose), 0.6),
            pitch=_clip(_toward(out.pitch, pitch, pose), 0.6),
            roll=_clip(_toward(out.roll, roll, pose), 0.6),
            gaze_x=gaze_x,
            gaze_y=gaze_y,
            breath=_toward(
                out.breath, self._breath_amp * math.sin(self._breath_phase), _BREATH_SPEED * dt
            ),
        )
        return out, state

    # -- voices --------------------------------------------------------------------------------

    def _hear(self, agent: VoiceFrame, user: VoiceFrame, t: float) -> tuple[State, bool]:
        """Update the voice trackers; return the state and whether the agent starts a phrase."""
        dt = self._dt
        phrase_start = False
        if agent.speaking:
            phrase_start = self._agent_quiet >= _PHRASE_GAP
            self._agent_quiet = 0.0
            self._turn = 0.0  # the agent answers: the user's turn is over
        else:
            self._agent_quiet += dt
        pause = low = False
        if user.speaking:
            if self._user_quiet >= _USER_GAP:
                self._user_run, self._pause_cued = 0.0, False
            self._user_quiet = 0.0
            self._user_run += dt
            self._turn += dt
            # High and loud (a laugh, an exclamation): the listener smiles back. Counted with
            # a leak, so the short syllables of a laugh add up; at most one smile in 3 s.
            if user.pitch > 0.0 and user.pitch_rel > _HIGH_PITCH and user.energy > _LOUD:
                self._high_run += dt
            else:
                self._high_run = max(0.0, self._high_run - 0.5 * dt)
            if self._high_run >= _HIGH_SECONDS and t >= self._high_next:
                self._high_run, self._high_next = 0.0, t + 3.0
                self._smile_pulses.append(_Pulse(t, 1.8, 0.4))
            if user.pitch > 0.0 and user.pitch_rel < _LOW_PITCH:
                self._low_run += dt
                low = (
                    not self._low_cued
                    and self._low_run >= _LOW_PITCH_SECONDS
                    and self._user_run >= _SPEECH_BEFORE_LOW_PITCH
                )
                self._low_cued |= low
            else:
                self._low_run, self._low_cued = 0.0, False
        else:
            self._user_quiet += dt
            self._low_run, self._low_cued = 0.0, False
            pause = (
                not self._pause_cued
                and self._user_quiet >= _USER_GAP
                and self._user_run >= _SPEECH_BEFORE_PAUSE
            )
            self._pause_cued |= pause

        if self._agent_quiet < _SPEAKING_HANG:
            state = State.SPEAKING
        elif self._user_quiet < _LISTENING_HANG or (
            self._turn >= _TURN_SPEECH and self._user_quiet < _TURN_HOLD
        ):
            state = State.LISTENING
        else:
            state = State.IDLE

        # the agent's prosody: loudness against its running level, and smoothed pitch
        energy = agent.energy if agent.speaking else 0.0
        self._loud_fast += (1.0 - math.exp(-dt / 0.04)) * (energy - self._loud_fast)
        self._loud_slow += (1.0 - math.exp(-dt / 0.5)) * (energy - self._loud_slow)
        tone = agent.pitch_rel if agent.speaking else 0.0
        self._tone += (1.0 - math.exp(-dt / 0.2)) * (max(-1.0, min(1.0, tone)) - self._tone)
        if state is State.SPEAKING:
            if agent.speaking and t - self._last_beat >= _BEAT_GAP:
                prominence = self._loud_fast - self._loud_slow + 0.3 * max(0.0, tone)
                if prominence > 0.12:
                    self._beat(t, tone)
        elif pause or low:
            self._backchannel(t, pause)
        return state, phrase_start

    def _beat(self, t: float, tone: float) -> None:
        """A stressed syllable: a small downward head beat and, often, raised brows."""
        rng = self._rng
        self._last_beat = t
        self.beats_started += 1
        self._pitch_pulses.append(_Pulse(t, 0.4, 0.03 * self._motion * rng.uniform(0.7, 1.3)))
        if rng.random() < 0.6:
            amp = (0.12 + 0.3 * max(0.0, tone)) * rng.uniform(0.8, 1.2)
            self._brow_pulses.append(_Pulse(t, 0.5, amp))

    def _backchannel(self, t: float, pause: bool) -> None:
        """The user paused or dropped their pitch: nod (always, if the last nod was a while ago)."""
        rng = self._rng
        recent = t - self._nod_end < 3.0
        if self._nod_due is None and rng.random() < (0.5 if recent else 1.0 if pause else 0.7):
            self._nod_due = t + (rng.uniform(0.05, 0.3) if pause else rng.uniform(0.3, 0.7))
        if pause:  # a small reaction to what was said
            draw = rng.random()
            if draw < 0.4:
                self._smile_pulses.append(_Pulse(t, 1.6, 0.25))
            elif draw < 0.7:
                self._brow_pulses.append(_Pulse(t, 0.9, 0.15))

    def _micro(self, t: float) -> None:
        """A micro-expression while not speaking: a brow flick, a flicker of a smile, a brief
        knit of the brows or a press of the lips, a few seconds apart."""
        rng = self._micro_rng
        self._micro_next = t + float(rng.uniform(*_MICRO_GAP))
        draw = rng.random()
        if draw < 0.35:
            self._brow_pulses.append(_Pulse(t, float(rng.uniform(0.4, 0.7)), 0.25))
        elif draw < 0.7:
            self._smile_pulses.append(_Pulse(t, float(rng.uniform(1.0, 1.8)), 0.15))
        elif draw < 0.85:
            self._brow_pulses.append(_Pulse(t, float(rng.uniform(0.8, 1.2)), -0.2))
        else:  # a press of the lips (a negative smile: the renderer shuts the mouth at rest)
            self._smile_pulses.append(_Pulse(t, float(rng.uniform(0.8, 1.2)), -0.2))

    # -- head ----------------------------------------------------------------------------------

    def _nods(self, mood: Mood, t: float) -> None:
        if self._nod_due is not None and t >= self._nod_due:
            if t >= self._nod_end + _NOD_REFRACTORY:
                self._nod_due = None
                self._nod(t)
            elif t - self._nod_due > 1.5:
                self._nod_due = None
        if mood.nod_rate <= 0.0:
            self._nod_next = None
        elif t >= self._nod_end and (self._nod_next is None or t >= self._nod_next):
            self._nod(t)  # asked to nod: one now, then about ``nod_rate`` a minute
            self._nod_next = t + 60.0 / mood.nod_rate * self._rng.uniform(0.85, 1.15)

    def _nod(self, t: float) -> None:
        rng = self._rng
        length = rng.uniform(*_NOD_SECONDS) / self._tempo
        amp = rng.uniform(*_NOD_RAD) * math.sqrt(self._motion)
        amp = min(amp, 0.9 * POSE_SPEED * length / math.pi)  # keep the nod under the speed limit
        self._pitch_pulses.append(_Pulse(t, length, amp))
        self._nod_end = t + length
        self.nods_started += 1

    def _normals(self) -> list[float]:
        """Four standard normal draws for the head and breath drifts, drawn in blocks."""
        if self._noise_at + 4 > len(self._noise):
            self._noise, self._noise_at = self._head_rng.standard_normal(4096).tolist(), 0
        self._noise_at += 4
        return self._noise[self._noise_at - 4 : self._noise_at]

    # -- eyes ----------------------------------------------------------------------------------

    def _look(self, state: State, phrase_start: bool, mood: Mood, dt: float) -> tuple[float, float]:
        """Fixations and saccades: wander when idle; at the viewer in conversation, with
        aversions (speakers look away as they start a phrase: Kendon 1967, Acta Psychol 26:22)."""
        rng = self._gaze_rng
        self._fixation -= dt
        if phrase_start and rng.random() < 0.6:
            side = 1.0 if rng.random() < 0.5 else -1.0
            self._avert(
                side * rng.uniform(0.3, 0.55), -rng.uniform(0.2, 0.4), rng.uniform(0.6, 1.5)
            )
        elif self._fixation <= 0.0:
            if state is State.IDLE:
                self._averted = False
                if rng.random() < 0.3:
                    self._gaze_target = (0.0, 0.0)
                else:
                    self._gaze_target = (
                        _clip(0.3 * rng.standard_normal(), 0.7),
                        _clip(0.18 * rng.standard_normal(), 0.7),
                    )
                self._fixation = 0.2 + rng.gamma(2.0, 0.5)
            elif not self._averted and rng.random() < (0.25 if state is State.SPEAKING else 0.15):
                side = 1.0 if rng.random() < 0.5 else -1.0
                self._avert(
                    side * rng.uniform(0.3, 0.6), rng.uniform(-0.35, 0.15), rng.uniform(0.4, 1.2)
                )
            else:
                self._averted = False
                self._gaze_target = (0.03 * rng.standard_normal(), 0.03 * rng.standard_normal())
                self._fixation = 0.5 + rng.gamma(2.0, 1.0)
        bias, gaze = self._gaze_bias, self._gaze
        follow = 1.0 - math.exp(-dt / 0.3)
        bias[0] += follow * (mood.gaze_x - bias[0])
        bias[1] += follow * (mood.gaze_y - bias[1])
        jump = 1.0 - math.exp(-dt / 0.03)
        for i in (0, 1):
            target = _clip(bias[i] + self._gaze_target[i], 1.0)
            gaze[i] = _toward(gaze[i], gaze[i] + jump * (target - gaze[i]), GAZE_SPEED * dt)
        return gaze[0], gaze[1]

    def _avert(self, x: float, y: float, seconds: float) -> None:
        self._gaze_target, self._fixation, self._averted = (x, y), seconds, True
        self.aversions_started += 1

    # -- eyelids and breath --------------------------------------------------------------------

    def _blink_interval(self) -> float:
        """Blink-clock units to the next blink: gamma-distributed with mean 1."""
        return float(self._blink_rng.gamma(_BLINK_INTERVAL_SHAPE, 1.0 / _BLINK_INTERVAL_SHAPE))

    def _blink(self, talking: bool) -> float:
        rate = BLINKS_IN_CONVERSATION if talking else BLINKS_AT_REST
        self._blink_phase += rate * self._blink_gain / 60.0 / (1.0 + _DOUBLE_BLINK) * self._dt
        if not self._blink_frames:
            if self._double_due:
                self._double_due = False
                self._start_blink()
            elif self._blink_phase >= self._blink_need:
                self._blink_phase, self._blink_need = 0.0, self._blink_interval()
                self._double_due = self._blink_rng.random() < _DOUBLE_BLINK
                self._start_blink()
            else:
                return 0.0
        return self._blink_frames.pop()

    def _start_blink(self) -> None:
        low, high = _BLINK_SECONDS
        frames = min(high, max(low, self._blink_rng.lognormal(math.log(0.2), 0.3))) * self.fps
        close = max(2, round(frames / 3.0))
        reopen = max(2, round(frames - close))
        shape = [0.5 - 0.5 * math.cos(math.pi * k / close) for k in range(1, close + 1)]
        shape += [0.5 + 0.5 * math.cos(math.pi * k / reopen) for k in range(1, reopen + 1)]
        if self._double_due:
            shape.append(0.0)
        self._blink_frames = shape[::-1]  # popped from the end
        self.blinks_started += 1


def _clip(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


def _soft(value: float) -> float:
    """Bound the head's drift smoothly."""
    return _DRIFT_LIMIT * math.tanh(value / _DRIFT_LIMIT)
