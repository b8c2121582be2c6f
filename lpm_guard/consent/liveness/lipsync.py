"""The lips move with the voice: the mouth's opening follows the loudness of the speech.

Over the digits and statement windows, the inner-lip gap of each sampled frame (in interocular
distances) is correlated with the voice-band loudness of the sound around that frame
(300–3,000 Hz, log energy over the frame's 100 ms, 40 dB of range), the sound shifted from
200 ms early to 500 ms late (the mouth opens a little before the sound; a browser opens its
camera and microphone one after the other, and a Bluetooth headset delays the voice 150–250 ms
more; a stalled browser's picture falls behind its sound: the suite's Chromium recordings came
+80 ms late on a quiet machine and +700 ms with the browser stopped 0.4 s in every 2 s). Both
series are detrended first (each less its mean over the surrounding second): otherwise the
mere fact of speaking — mouth busy while the voice is on — correlates at any shift, and lips
moving 0.8 s late scored 0.51–0.60. The score is the best Pearson correlation over the shifts.

A minimum movement of the mouth (the standard deviation of its opening) comes first: landmark
jitter on a still photo correlates with nothing, but a few lucky frames could. A still photo
with a voice (0.004–0.006) and a face whose lips stay shut under dubbed speech fail there.

Measured (threshold 0.3): the bona fide proxy 0.81–0.93 (its lips are driven by the sound's
own envelope: a real person's lips follow their voice less closely, so its margin overstates
a person's); lips saying other words 0.15–0.24; lips 0.8 s late 0.13–0.20; the generator
speaking its own sound 0.70–0.76 (it is refused by the other checks or flagged).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, sosfiltfilt

from .decode import RATE, Audio
from .results import CheckResult, result
from .script import Prompt, Script
from .track import Floats, Track

CORRELATION_MIN = 0.3
MOVEMENT_MIN = 0.03  # interocular distances (std of the inner-lip gap)
LAG_S = 0.2  # the sound before the lips
LATE_S = 0.5  # the sound after the lips
LAG_STEP_S = 0.02
HOP_S = 0.01
RANGE_DB = 40.0
TAIL_S = 0.75  # the subject may finish reading a little after the window
DETREND_S = 1.0


@cache
def _band() -> npt.NDArray[np.float64]:
    return np.asarray(butter(4, (300.0, 3000.0), btype="bandpass", fs=RATE, output="sos"))


def loudness(audio: Audio) -> Floats:
    """Voice-band log energy every 10 ms (dB, the loudest at 0, floored at −40)."""
    if audio.size < RATE // 10:
        return np.full(max(1, audio.size // int(RATE * HOP_S)), -RANGE_DB)
    voiced = sosfiltfilt(_band(), audio.astype(np.float64))
    hop = int(RATE * HOP_S)
    frames = voiced[: voiced.size // hop * hop].reshape(-1, hop)
    energy = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return np.asarray(np.maximum(energy - energy.max(), -RANGE_DB), dtype=np.float64)


def _at(envelope: Floats, times: Floats) -> Floats:
    """The envelope averaged over the 100 ms around each time."""
    kernel = np.ones(10) / 10.0
    smooth = np.convolve(envelope, kernel, mode="same")
    grid = np.arange(smooth.size) * HOP_S + HOP_S / 2
    return np.asarray(np.interp(times, grid, smooth, left=-RANGE_DB, right=-RANGE_DB))


def speech_mask(track: Track, script: Script) -> npt.NDArray[np.bool_]:
    mask = np.zeros(len(track), dtype=np.bool_)
    for step in script.steps:
        if step.prompt in (Prompt.DIGITS, Prompt.STATEMENT):
            mask |= track.between(step.start_s, step.end_s + TAIL_S)
    return mask


def detrend(values: Floats, times: Floats, width_s: float = DETREND_S) -> Floats:
    """Each value less the mean of those within ``width_s`` around it: what is left is the
    syllable-rate movement, not whether someone is speaking at all."""
    near = np.abs(times[:, None] - times[None, :]) <= width_s / 2
    return np.asarray(values - (near @ values) / near.sum(axis=1), dtype=np.float64)


def check_lip_sync(track: Track, audio: Audio, script: Script) -> CheckResult:
    mask = speech_mask(track, script) & np.isfinite(track.mouth)
    if mask.sum() < 20:
        return result("lip-sync", False, None, CORRELATION_MIN, "too few frames show the mouth")
    times = track.times[mask]
    mouth = detrend(track.mouth[mask], times)
    # (1): the mouth must move at all.
    movement = float(np.std(track.mouth[mask]))
    if movement < MOVEMENT_MIN:
        return result(
            "lip-sync", False, 0.0, CORRELATION_MIN,
            f"the mouth hardly moves while speech is expected: its opening varies by "
            f"{movement:.3f} interocular distances, {MOVEMENT_MIN} needed",
        )  # fmt: skip
    # (2): the best correlation with the loudness over ±200 ms.
    envelope = loudness(audio)
    best, best_lag = -1.0, 0.0
    for k in range(-round(LAG_S / LAG_STEP_S), round(LATE_S / LAG_STEP_S) + 1):
        lag = k * LAG_STEP_S
        sound = detrend(_at(envelope, times + lag), times)
        if np.std(sound) == 0.0:
            continue
        r = float(np.corrcoef(mouth, sound)[0, 1])
        if r > best:
            best, best_lag = r, lag
    detail = (
        f"mouth opening against voice loudness: correlation {best:.2f} with the sound "
        f"{best_lag * 1000:+.0f} ms; the mouth's opening varies by {movement:.3f} interocular "
        f"distances over {int(mask.sum())} frames"
    )
    return result("lip-sync", best >= CORRELATION_MIN, best, CORRELATION_MIN, detail)
