"""From per-frame voice features to smoothed mouth targets (visemes).

The raw features come from :mod:`.audio`; this module decides what the mouth does with them:
vowel shape from the first two formants, bilabial closure from nasal murmur and from stop gaps
that end in a burst, a gate with hysteresis that holds the mouth exactly still in silence, and
asymmetric attack/release smoothing with anticipation of the frames ahead (coarticulation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .controls import VoiceFrame


@dataclass(frozen=True, slots=True)
class FrameFeatures:
    """What the analyser measured on one frame, before any mouth smoothing.

    ``f1``/``f2`` are formants in Hz, already scaled to an adult male vocal tract (0 when not
    measured); ``nasal`` is a 0..1 nasal-murmur score; ``dark_db`` how far the band above
    500 Hz lies under the band below it; ``dip_db`` is how far the frame's level lies below the
    speaker's recent voice peak; ``high_ratio`` the share of energy above 3 kHz; ``speech`` the
    voice-activity probability around the frame (1 where nobody measured it).
    """

    level_db: float = -120.0
    energy: float = 0.0
    phonation: float = 0.0
    voiced: float = 0.0
    pitch: float = 0.0
    pitch_rel: float = 0.0
    f1: float = 0.0
    f2: float = 0.0
    nasal: float = 0.0
    dark_db: float = 0.0
    dip_db: float = 0.0
    high_ratio: float = 0.0
    speech: float = 1.0  # voice activity (silero-vad) up to the frame's end and lookahead


@dataclass(frozen=True, slots=True)
class Mouth:
    jaw_open: float = 0.0
    lip_width: float = 0.0
    lip_round: float = 0.0
    lip_close: float = 0.0


CLOSED = Mouth()
_NEUTRAL_WIDTH = 0.25  # lips at rest in speech: neither spread nor rounded
_GAP_DB = 18.0  # a frame this far under the voice peak is part of a gap (closure or pause)


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at or below ``lo``, 1 at or above ``hi``, linear between."""
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def vowel_shape(f1: float, f2: float) -> Mouth:
    """Mouth shape of a vowel from its formants (adult male scale; ``f2`` 0 when not seen).

    Anchors are the male averages of Hillenbrand et al. (1995): /i/ 342/2322 Hz, /e/ 476/2089,
    /ɑ/ 768/1333, /o/ 497/910, /u/ 378/997. F1 rises with jaw opening; F2 - F1 is large for
    spread front vowels; a low F2 with a low-to-mid F1 means rounded lips.
    """
    jaw = 0.2 + 0.8 * _ramp(f1, 300.0, 750.0)
    if f2 <= 0.0:
        return Mouth(jaw_open=jaw, lip_width=_NEUTRAL_WIDTH)
    width = _ramp(f2 - f1, 900.0, 1900.0)
    rnd = _ramp(1400.0 - f2, 0.0, 450.0) * _ramp(700.0 - f1, 0.0, 250.0)
    return Mouth(jaw_open=jaw, lip_width=width, lip_round=rnd)


def mouth_target(
    now: FrameFeatures,
    ahead: Sequence[FrameFeatures],
    gap_ms: float,
    before: FrameFeatures | None = None,
) -> Mouth:
    """The mouth this frame asks for, before gating and smoothing. ``gap_ms`` is how long the
    level has been in a gap, this frame included (0 when it is not); ``before`` is the frame
    before this one, when known."""
    loud = min(1.0, now.energy / 0.6) ** 0.7
    if now.f1 > 0.0 and now.phonation >= 0.3:
        shape = vowel_shape(now.f1, now.f2)
        weight = _ramp(now.phonation, 0.3, 0.6)
        jaw = loud * (weight * shape.jaw_open + (1.0 - weight) * 0.15)
        width = weight * shape.lip_width + (1.0 - weight) * _NEUTRAL_WIDTH
        rnd = weight * shape.lip_round
    else:  # unvoiced consonant (or nothing): a slightly open, neutral mouth
        jaw, width, rnd = 0.15 * loud, _NEUTRAL_WIDTH * loud, 0.0
    close = max(now.nasal, _murmur(before, now, ahead), _stop_closure(now, ahead, gap_ms))
    open_left = 1.0 - close
    return Mouth(
        jaw_open=jaw * open_left,
        lip_width=width * open_left,
        lip_round=rnd * open_left,
        lip_close=close,
    )


def _stop_closure(now: FrameFeatures, ahead: Sequence[FrameFeatures], gap_ms: float) -> float:
    """Lips pressed for /p/ /b/: a deep dip in the level within speech (the closure), sure when
    the frames ahead show the release burst and that burst is not hissy (labial bursts are
    diffuse and weak above 3 kHz; /t/ bursts are strong there — Stevens & Blumstein 1978).
    Without a burst in sight yet the lips only start to close, and a gap longer than a closure
    (about 100 ms) is a pause. A gap in the voice band filled with hiss above 3 kHz is a
    fricative (/s/, /f/), not a closure."""
    # Voiced /b/ dips less than a pause: flite's B frames dip 5/19/37 dB (10th/50th/90th pct).
    dip = _ramp(now.dip_db, 12.0, 24.0) * (1.0 - _ramp(now.high_ratio, 0.4, 0.8))
    if dip == 0.0:
        return 0.0
    burst = 0.0
    for nxt in ahead:
        rise = nxt.level_db - now.level_db
        if rise >= 10.0:
            labial = 1.0 - _ramp(nxt.high_ratio, 0.25, 0.6)
            burst = max(burst, _ramp(rise, 10.0, 20.0) * labial)
    pending = 0.8 * (1.0 - _ramp(gap_ms, 40.0, 120.0))
    return dip * max(pending, burst)


def _murmur(
    before: FrameFeatures | None, now: FrameFeatures, ahead: Sequence[FrameFeatures]
) -> float:
    """A short nasal murmur between vowels (the /m/ of "mom"): a voiced frame much darker than
    the frames on both sides. Some voices keep enough energy above 500 Hz in their murmur that
    the frame alone reads like a close front vowel; /i/ stays about as dark from frame to frame,
    a murmur between two vowels does not."""
    if before is None or not ahead or now.phonation < 0.3:
        return 0.0
    voiced = _ramp(now.phonation, 0.3, 0.6)
    jump = now.dark_db - min(before.dark_db, ahead[0].dark_db)
    # Real voices' murmurs (CMU ARCTIC slt) run 16-23 dB dark, flite's darker still.
    murmur = _ramp(jump, 10.0, 16.0) * _ramp(now.dark_db, 16.0, 22.0)
    # Out of an open vowel straight into a murmur ("I'm", "am"): F1 falls by 200-350 Hz or
    # more from one frame to the next as the mouth shuts (a glide to /i/ or /u/ takes several
    # frames), and the frame turns dark, if not as dark as a murmur between two vowels.
    if before.f1 > 0.0 and now.f1 > 0.0:
        fall = _ramp(before.f1 - now.f1, 200.0, 350.0) * _ramp(350.0 - now.f1, 0.0, 80.0)
        darker = _ramp(now.dark_db, 12.0, 16.0) * _ramp(now.dark_db - before.dark_db, 8.0, 12.0)
        murmur = max(murmur, fall * darker)
    return murmur * voiced


def _scaled(mouth: Mouth | None, loud: float) -> Mouth:
    """A phone's mouth, opened a little less when spoken softly (CLOSED for silence)."""
    if mouth is None:
        return CLOSED
    return replace(mouth, jaw_open=mouth.jaw_open * loud)


def _labial_onset(now: FrameFeatures, nxt: FrameFeatures) -> bool:
    """Speech about to start with a release burst that is not hissy (a /p/ or /b/ after a
    pause): the lips must be seen shut before it, so the gate opens a frame early."""
    return nxt.level_db - now.level_db >= 10.0 and nxt.high_ratio < 0.4 and nxt.energy >= 0.1


def _median_formant(values: Sequence[float], now: float) -> float:
    """Median of the measured (non-zero) values; LPC now and then merges F1 and F2 of an open
    vowel for one frame and reports F3 as F2."""
    seen = sorted(v for v in values if v > 0.0)
    if len(seen) == 3:
        return seen[1]
    return now if now > 0.0 or not seen else seen[0]


@dataclass(frozen=True, slots=True)
class _Timing:
    attack_ms: float
    release_ms: float
    anticipate: float  # how much of the next frame's target shows in this frame


# Jaw and lips move in 50-100 ms (articulator velocities in Gracco & Löfqvist 1994); closures
# are faster than openings so a /p/ reads on screen even at 25 fps.
_TIMINGS = {
    "jaw_open": _Timing(attack_ms=35.0, release_ms=40.0, anticipate=0.3),
    "lip_width": _Timing(attack_ms=50.0, release_ms=70.0, anticipate=0.3),
    "lip_round": _Timing(attack_ms=50.0, release_ms=70.0, anticipate=0.4),
    "lip_close": _Timing(attack_ms=20.0, release_ms=40.0, anticipate=0.6),
}
_STILL = 0.08  # below this, with the gate shut, the mouth snaps to rest (its last settling step)
_VAD_SPEECH = 0.5  # silero-vad probability that counts as speech


class Coarticulator:
    """Gate, anticipation and attack/release smoothing of the mouth targets, frame by frame."""

    def __init__(self, fps: int, hangover_ms: float = 240.0) -> None:
        self._dt = 1000.0 / fps
        self._gains = {
            name: (
                1.0 - math.exp(-self._dt / t.attack_ms),
                1.0 - math.exp(-self._dt / t.release_ms),
                t.anticipate,
            )
            for name, t in _TIMINGS.items()
        }
        self._hangover = max(1, round(hangover_ms / self._dt))
        self._since_vad = self._hangover + 1  # nothing heard yet
        self._settle = 1.0 - math.exp(-self._dt / 20.0)
        self._since_speech = self._hangover + 1
        self._open = False
        self._mouth = CLOSED
        self._prev = FrameFeatures()
        self._gap = 0

    @staticmethod
    def _speech(f: FrameFeatures) -> bool:
        return f.voiced >= 0.5 and f.energy >= 0.1

    def _gate(self, now: FrameFeatures, ahead: Sequence[FrameFeatures]) -> bool:
        # Hysteresis: opens on clear voice (now, or in the frames ahead so the lips part just
        # before the sound), then holds through stop gaps and short pauses for the hangover.
        if self._speech(now):
            self._since_speech = 0
        else:
            self._since_speech += 1
        # Voice activity vetoes: where silero-vad has heard no speech for the hangover, a hiss
        # or a hum that looks voiced to the formant tracker leaves the mouth shut.
        self._since_vad = 0 if now.speech >= _VAD_SPEECH else self._since_vad + 1
        if self._since_vad > self._hangover:
            self._open = False
            return False
        coming = any(self._speech(f) for f in ahead)
        if not self._open:
            # A labial onset (lips shut a frame before the burst) needs silero-vad to hear
            # the speech coming too: a breath or a click is a rise in level as well.
            self._open = (
                self._since_speech == 0
                or coming
                or (bool(ahead) and now.speech >= _VAD_SPEECH and _labial_onset(now, ahead[0]))
            )
        elif self._since_speech > 0 and not coming and self._ended(now, ahead):
            self._open = False
        elif self._since_speech > self._hangover and not coming:
            self._open = now.voiced >= 0.3 and now.energy >= 0.05
        return self._open

    def _ended(self, now: FrameFeatures, ahead: Sequence[FrameFeatures]) -> bool:
        """The voice is over, not paused in a stop gap: silero-vad hears no speech around
        this frame (it holds its score through the gaps inside an utterance, but not past
        its end), or the level has sat at the floor for two frames and nothing rises ahead
        (a stop's closure ends in a burst within about 100 ms)."""
        if self._since_vad > 0:
            return True
        quiet = now.energy < 0.03 and all(
            f.energy < 0.03 and f.level_db - now.level_db < 10.0 for f in ahead
        )
        return self._gap >= 2 and quiet

    def _steady(self, now: FrameFeatures, ahead: Sequence[FrameFeatures]) -> FrameFeatures:
        nxt = ahead[0] if ahead else now
        f1 = _median_formant((self._prev.f1, now.f1, nxt.f1), now.f1)
        f2 = _median_formant((self._prev.f2, now.f2, nxt.f2), now.f2)
        return replace(now, f1=f1, f2=f2) if now.f1 > 0.0 else now

    def step(
        self,
        now: FrameFeatures,
        ahead: Sequence[FrameFeatures],
        phones: tuple[Mouth | None, Mouth | None] | None = None,
    ) -> VoiceFrame:
        """One frame. ``phones``, where the words of this stretch were aligned, is the mouth
        this frame's phone and the next frame's phone ask for (None in silence): they replace
        the shapes read from the audio, and a silent phone shuts the gate."""
        self._gap = self._gap + 1 if now.dip_db >= _GAP_DB else 0
        was_open = self._open
        if phones is not None:
            is_open = phones[0] is not None or phones[1] is not None
            self._open = is_open
            self._since_speech = 0 if is_open else self._hangover + 1
            loud = 0.75 + 0.25 * min(1.0, now.energy / 0.6)
            goal, nxt = (_scaled(m, loud) for m in phones)
            if phones[0] is None:
                # Out of a silence the lips may close ahead of a /p/, but do not part before
                # the sound: a frame of the pause stays a frame of the pause.
                nxt = replace(CLOSED, lip_close=nxt.lip_close)
        elif self._gate(now, ahead):
            is_open = True
            goal = mouth_target(
                self._steady(now, ahead), ahead, self._gap * self._dt, before=self._prev
            )
            if ahead:
                gap_next = self._gap + 1 if ahead[0].dip_db >= _GAP_DB else 0
                nxt = mouth_target(ahead[0], ahead[1:], gap_next * self._dt, before=now)
            else:
                nxt = goal
            if not was_open and not self._speech(now):
                # The gate opened on the voice ahead: the lips may close ahead of a /p/, but
                # do not part before the sound (a frame of the pause stays a frame of it).
                goal = replace(CLOSED, lip_close=goal.lip_close)
                nxt = replace(CLOSED, lip_close=nxt.lip_close)
        else:
            is_open = False
            goal = nxt = CLOSED
        self._prev = now
        values: dict[str, float] = {}
        for name, (attack, release, anticipate) in self._gains.items():
            want, coming = getattr(goal, name), getattr(nxt, name)
            if name == "lip_close":  # a closure shows early; an opening does not wait for it
                want = max(want, anticipate * coming)
            else:
                want = (1.0 - anticipate) * want + anticipate * coming
            prev = getattr(self._mouth, name)
            gain = attack if want > prev else release
            if not is_open:  # the voice is over: the mouth settles at rest within 2-3 frames
                gain = max(gain, self._settle)
            values[name] = prev + gain * (want - prev)
        mouth = Mouth(**values)
        if not is_open and max(values.values()) < _STILL:
            mouth = CLOSED
        self._mouth = mouth
        return VoiceFrame(
            energy=now.energy,
            voiced=now.voiced,
            pitch=now.pitch,
            pitch_rel=now.pitch_rel,
            jaw_open=mouth.jaw_open,
            lip_width=mouth.lip_width,
            lip_round=mouth.lip_round,
            lip_close=mouth.lip_close,
        )
