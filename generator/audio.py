"""Audio in, one :class:`VoiceFrame` per video frame out.

:func:`load_audio` decodes any file PyAV reads to float32 mono. :class:`VoiceAnalyzer` analyses
one voice track as a stream: every frame's features are a pure function of the audio up to the
frame's end plus the lookahead, so any chunking of the same audio gives the same frames.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from .controls import VoiceFrame
from .errors import AudioError
from .phones import Phone, PhoneTrack
from .vad import WINDOW, VoiceActivity
from .visemes import Coarticulator, FrameFeatures

SAMPLE_RATE = 16_000

FloatArray = npt.NDArray[np.float64]


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> npt.NDArray[np.float32]:
    """Decode the first audio stream of ``path`` (any format FFmpeg reads: wav, mp3, m4a, flac,
    ogg, ...) to float32 mono at ``sample_rate``, in -1..1."""
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    chunks: list[npt.NDArray[np.float32]] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: no audio stream in the file")
            stream = container.streams.audio[0]
            # Planar float at the stream's own layout; channels are averaged here, since
            # FFmpeg's own downmix adds stereo channels at -3 dB and can clip.
            resampler = av.AudioResampler(format="fltp", rate=sample_rate)
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray().mean(axis=0) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().mean(axis=0) for f in resampler.resample(None))
    except (av.FFmpegError, OSError) as exc:
        reason = exc.strerror or str(exc)
        raise AudioError(f"{path}: cannot read audio: {reason}") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise AudioError(f"{path}: the audio is empty")
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


def _db(power: float) -> float:
    return 10.0 * math.log10(power + 1e-12)


class _Spectral:
    """The per-window measurements, with everything that depends only on the sample rate
    computed once. One 40 ms Hann window (three periods of 75 Hz, Praat's pitch window) feeds
    every measurement through a single FFT."""

    MIN_F0, MAX_F0 = 70.0, 400.0
    LPC_ORDER = 10  # Praat's Burg default: two poles per formant, five formants below 5.5 kHz
    LPC_TOP = 5500.0

    def __init__(self, sample_rate: int) -> None:
        self.sr = sample_rate
        self.size = round(0.040 * sample_rate)
        self.nfft = 1 << (2 * self.size - 1).bit_length()
        self.window = np.hanning(self.size + 2)[1:-1]
        freqs = np.fft.rfftfreq(self.nfft, 1.0 / sample_rate)
        self.df = float(freqs[1])
        self.norm = 2.0 / (self.nfft * float(np.sum(self.window**2)))  # |X|² -> mean square
        self.voice = (freqs >= 100.0) & (freqs <= 4000.0)
        self.low = (freqs >= 80.0) & (freqs < 500.0)
        self.upper = (freqs >= 500.0) & (freqs <= 4000.0)
        self.top = (freqs >= 1500.0) & (freqs <= 4000.0)
        self.high = freqs >= 3000.0
        self.pitch_band = ((freqs >= 50.0) & (freqs <= 4000.0)).astype(np.float64)
        self.lag_lo = int(sample_rate / self.MAX_F0)
        self.lag_hi = math.ceil(sample_rate / self.MIN_F0)
        spec = np.fft.rfft(self.window, self.nfft)
        acw = np.fft.irfft(np.abs(spec) ** 2, self.nfft)[: self.lag_hi + 2]
        self.window_ac = acw / acw[0]
        # LPC sees the spectrum below LPC_TOP only, as if resampled to 2 * LPC_TOP, with a
        # first-order pre-emphasis (0.97) applied as a spectral weight.
        self.lpc_bins = int(self.LPC_TOP / self.df) + 1
        omega = np.pi * np.arange(self.lpc_bins) / (self.lpc_bins - 1)
        self.preemph = 1.0 + 0.97**2 - 2.0 * 0.97 * np.cos(omega)
        self.lpc_rate = 2.0 * (self.lpc_bins - 1) * self.df

    def measure(self, x: FloatArray) -> dict[str, float]:
        spec = np.fft.rfft(x * self.window, self.nfft)
        power = spec.real**2 + spec.imag**2
        voice = float(power[self.voice].sum())
        total = float(power.sum()) + 1e-20
        out = {
            "level_db": _db(voice * self.norm),
            "high_ratio": float(power[self.high].sum()) / total,
            "dark_db": _db(float(power[self.low].sum())) - _db(float(power[self.upper].sum())),
            "dark_top_db": _db(float(power[self.low].sum())) - _db(float(power[self.top].sum())),
            "flatness": self._flatness(power[self.voice]),
        }
        f0, harmonicity = self._pitch(power)
        out["f0"], out["harmonicity"] = f0, harmonicity
        out["richness"] = self._richness(power, f0) if f0 > 0.0 else 0.0
        out["f1"], out["f2"] = self._formants(power)
        return out

    @staticmethod
    def _flatness(band: FloatArray) -> float:
        """Wiener entropy: 1 for white noise, near 0 for a few strong peaks."""
        band = band + 1e-12 * (float(band.max()) + 1e-30)
        return float(np.exp(np.mean(np.log(band))) / np.mean(band))

    def _pitch(self, power: FloatArray) -> tuple[float, float]:
        """Boersma (1993): the autocorrelation of the windowed frame divided by that of the
        window; the strongest peak in the 70-400 Hz lag range, preferring the shortest lag
        within 90 % of it so that a period is not mistaken for two."""
        ac = np.fft.irfft(power * self.pitch_band, self.nfft)[: self.lag_hi + 2]
        if ac[0] <= 1e-12:
            return 0.0, 0.0
        r = ac / ac[0] / self.window_ac
        seg = r[self.lag_lo - 1 : self.lag_hi + 2]
        peaks = np.flatnonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])) + 1
        if peaks.size == 0:
            return 0.0, 0.0
        best = float(seg[peaks].max())
        if best <= 0.0:
            return 0.0, 0.0
        k = int(peaks[seg[peaks] >= 0.9 * best][0])
        a, b, c = float(seg[k - 1]), float(seg[k]), float(seg[k + 1])
        denom = a - 2.0 * b + c
        shift = 0.5 * (a - c) / denom if denom < 0.0 else 0.0
        lag = self.lag_lo - 1 + k + shift
        f0 = min(self.MAX_F0, max(self.MIN_F0, self.sr / lag))
        return f0, min(1.0, max(0.0, b))

    def _richness(self, power: FloatArray, f0: float) -> float:
        """Share of the harmonics of ``f0``, up to the highest one heard (and at least up to
        1.5 kHz, where every vowel has F1 or F2), that stand out from the valleys beside them.
        A voice fills its harmonic series up to where its spectrum fades; a chord of a few
        tones, or one pure tone, leaves holes in it even when its common period is clean."""
        count = max(1, int(3500.0 / f0))
        k = np.arange(1, count + 1, dtype=np.float64)
        at = np.rint(k * f0 / self.df).astype(np.intp)
        peak = np.maximum(np.maximum(power[at - 1], power[at]), power[at + 1])
        mid = power[np.rint((k + 0.5) * f0 / self.df).astype(np.intp)]
        mid_before = power[np.rint((k - 0.5) * f0 / self.df).astype(np.intp)]
        floor = 1e-7 * float(peak.max()) + 1e-20
        stands = np.flatnonzero(peak > 4.0 * (0.5 * (mid + mid_before) + floor))
        if stands.size == 0:
            return 0.0
        return float(stands.size) / max(int(1500.0 / f0), int(stands[-1]) + 1)

    def _formants(self, power: FloatArray) -> tuple[float, float]:
        """F1 and F2 from the roots of an LPC polynomial (autocorrelation method). F2 is 0 when
        the envelope there lies more than 30 dB under F1: nothing above F1 to read a shape from
        (nasal murmur, voice bar)."""
        ac = np.fft.irfft(power[: self.lpc_bins] * self.preemph)[: self.LPC_ORDER + 1]
        if ac[0] <= 1e-12:
            return 0.0, 0.0
        coeffs = _levinson([float(v) for v in ac], self.LPC_ORDER)
        roots = np.roots(coeffs)
        roots = roots[roots.imag > 0.0]
        freqs = np.angle(roots) * self.lpc_rate / (2.0 * np.pi)
        bands = -np.log(np.abs(roots)) * self.lpc_rate / np.pi
        keep = (bands < 800.0) & (freqs > 180.0) & (freqs < 3500.0)
        order = np.argsort(freqs[keep])
        cand, cand_roots = freqs[keep][order], roots[keep][order]
        if cand.size == 0 or cand[0] >= 1100.0:
            return 0.0, 0.0
        f1 = float(cand[0])
        above = np.flatnonzero(cand > f1 + 150.0)
        if above.size == 0:
            return f1, 0.0
        # Envelope height 1/|A(z)|² at each pole's angle, compared in dB.
        on_circle = cand_roots[[0, int(above[0])]] / np.abs(cand_roots[[0, int(above[0])]])
        gain = -20.0 * np.log10(np.abs(np.polyval(coeffs, on_circle)) + 1e-20)
        return f1, float(cand[above[0]]) if gain[1] > gain[0] - 30.0 else 0.0


def _levinson(r: list[float], order: int) -> list[float]:
    """Levinson-Durbin recursion: prediction polynomial [1, a1, ..., ap] from autocorrelation."""
    r0 = r[0] * (1.0 + 1e-9)
    a = [1.0] + [0.0] * order
    err = r0
    for i in range(1, order + 1):
        acc = r[i] + sum(a[j] * r[i - j] for j in range(1, i))
        k = -acc / err
        prev = a[:]
        for j in range(1, i):
            a[j] = prev[j] + k * prev[i - j]
        a[i] = k
        err *= 1.0 - k * k
        if err <= 0.0:
            break
    return a


def _ramp(x: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


class _Tracker:
    """Running per-speaker state: noise floor, voice peak, voice hangover, median pitch."""

    FLOOR_MIN_DB = -65.0  # quieter than this (voice band, dB re full scale) is silence

    def __init__(self, fps: int) -> None:
        self.dt = 1.0 / fps
        self.floor = self.FLOOR_MIN_DB
        self.peak = -math.inf
        self.voiced = 0.0
        self.rich = 0.0
        self.hold = math.exp(-self.dt / 0.3)
        self.hold_silent = math.exp(-self.dt / 0.08)
        self.rich_hold = math.exp(-self.dt / 0.5)
        self.pitches: deque[float] = deque(maxlen=round(6.0 * fps))

    def update(self, m: dict[str, float]) -> FrameFeatures:
        level = m["level_db"]
        # (1) Phonation: a clean period (not noise) from a voice-like source. Richness is held
        # for half a second, so nasal murmurs and voice bars, which keep only their lowest
        # harmonics, stay voiced between vowels, while chords and pure tones never earn it.
        periodic = _ramp(m["harmonicity"], 0.45, 0.75) * (1.0 - _ramp(m["flatness"], 0.35, 0.6))
        self.rich *= self.rich_hold
        if periodic >= 0.5:
            self.rich = max(self.rich, m["richness"])
        phonation = periodic * _ramp(self.rich, 0.5, 0.8)
        # (2) Noise floor (minimum tracking): falls at once, rises fast while no voice is
        # heard and very slowly under a voice, so a long sung note keeps its loudness.
        rise = (0.5 if self.voiced > 0.3 else 20.0) * self.dt
        self.floor = min(level, self.floor + rise)
        floor = max(self.floor, self.FLOOR_MIN_DB)
        # (3) Loudness against the floor, scaled to the voice's recent peak (at least 30 dB).
        self.peak -= 3.0 * self.dt
        if phonation >= 0.5:
            self.peak = max(self.peak, level)
        ref = max(self.peak, floor + 30.0)
        energy = _ramp(level, floor + 6.0, ref)
        # (4) Voice presence, with a hangover through unvoiced consonants (short in silence).
        now = phonation * _ramp(energy, 0.03, 0.15)
        held = self.voiced * (self.hold if energy > 0.03 else self.hold_silent)
        self.voiced = max(now, held if held >= 0.01 else 0.0)
        # (5) Pitch against the running median of this voice.
        # Weak voicing at the edges of the voice is where octave errors live: no pitch there.
        pitch = m["f0"] if now >= 0.5 and energy >= 0.25 else 0.0
        if now >= 0.6:
            self.pitches.append(pitch)
        median = float(np.median(self.pitches)) if self.pitches else 0.0
        pitch_rel = max(-1.0, min(1.0, math.log2(pitch / median))) if pitch and median else 0.0
        # (6) Formants to an adult male scale: vocal tracts shorten as voices rise, about
        # 15-20 % from men to women (Peterson & Barney 1952); a quarter power of f0 tracks that.
        scale = min(1.25, max(0.95, (median / 120.0) ** 0.25)) if median else 1.0
        # (7) Nasal murmur (and the voice bar of /b/): voiced, with the band above 500 Hz far
        # under the band below it; either very dark, or dark and quieter than the vowels
        # around it (murmurs run 5-15 dB under their vowels, Fujimura 1962). Very dark also
        # needs little above 1.5 kHz, where /i/ keeps its strong F2 and F3. The voice bars of
        # /d/ and /z/ and the murmur of /n/ look the same from one frame, so a murmur alone
        # presses the lips only most of the way (0.7): lips that shut on every voiced
        # consonant close early after each vowel, and the mouth leads the voice (slt: 55 ms).
        very_dark = _ramp(m["dark_db"], 18.0, 28.0) * _ramp(m["dark_top_db"], 32.0, 42.0)
        dark = _ramp(m["dark_db"], 8.0, 18.0) * _ramp(ref - level, 6.0, 14.0)
        nasal = 0.7 * max(very_dark, dark) * _ramp(phonation, 0.3, 0.6)
        return FrameFeatures(
            level_db=level,
            energy=energy,
            phonation=phonation,
            voiced=self.voiced,
            pitch=pitch,
            pitch_rel=pitch_rel,
            f1=m["f1"] / scale,
            f2=m["f2"] / scale,
            nasal=nasal,
            dark_db=m["dark_db"],
            dip_db=ref - level,
            high_ratio=m["high_ratio"],
        )


class VoiceAnalyzer:
    """Streaming analysis of one voice track at a fixed video frame rate.

    Frame ``i`` covers audio ``[i/fps, (i+1)/fps)`` and is emitted once the audio up to its end
    plus ``lookahead_ms`` is in (or on :meth:`flush`); it never depends on later audio.
    :meth:`push` takes float samples in -1..1 at ``sample_rate``, in chunks of any length, and
    returns the frames completed; :meth:`flush` ends the stream.
    """

    def __init__(
        self,
        fps: int = 25,
        sample_rate: int = SAMPLE_RATE,
        lookahead_ms: float = 40.0,
        voice_activity: bool = True,
    ) -> None:
        if fps <= 0 or sample_rate < 11_025 or lookahead_ms < 0.0:
            raise ValueError("need fps > 0, sample_rate >= 11025 and lookahead_ms >= 0")
        self.fps = fps
        self.sample_rate = sample_rate
        self.frames_emitted = 0
        self._lookahead = round(lookahead_ms * sample_rate / 1000.0)
        self._spectral = _Spectral(sample_rate)
        self._tracker = _Tracker(fps)
        self._coart = Coarticulator(fps)
        # Phones of the words spoken, where they are known (see add_phones).
        self.phones = PhoneTrack(fps)
        # Voice activity of every 32 ms window from the stream's start (silero-vad); without
        # it (voice_activity=False) every voice the formant tracker hears may move the mouth.
        self._vad = VoiceActivity() if voice_activity else None
        self._vad_pending = np.zeros(0, np.float32)
        self._vad_probs: deque[float] = deque()
        self._vad_first = 0  # window index of _vad_probs[0]
        self._buf = np.zeros(self._spectral.size, np.float64)
        self._buf_start = -self._spectral.size  # absolute index of _buf[0]; before 0 is silence
        self._received = 0
        self._analysed = 0  # frames whose features are computed
        self._pending: deque[FrameFeatures] = deque()  # features of frames not yet emitted
        self._flushed = False

    def _bound(self, i: int) -> int:
        return i * self.sample_rate // self.fps

    def _window_end(self, j: int) -> int:
        # The analysis window is centred on the frame when the lookahead allows it.
        centre = (self._bound(j) + self._bound(j + 1)) // 2
        return min(centre + self._spectral.size // 2, self._bound(j + 1) + self._lookahead)

    def push(self, samples: npt.ArrayLike) -> list[VoiceFrame]:
        if self._flushed:
            raise RuntimeError("this VoiceAnalyzer was flushed; start a new one")
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim != 1:
            raise AudioError(f"expected mono samples (1-D), got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise AudioError("samples contain NaN or infinity")
        self._buf = np.concatenate((self._buf, x))
        self._received += x.size
        self._listen(x)
        return self._drain()

    def _listen(self, x: FloatArray) -> None:
        if self._vad is None:
            return
        pending = np.concatenate((self._vad_pending, x.astype(np.float32)))
        whole = len(pending) // WINDOW * WINDOW
        self._vad_probs.extend(self._vad(pending[:whole].reshape(-1, WINDOW)).tolist())
        self._vad_pending = pending[whole:]

    def _speech(self, k: int) -> float:
        """The most speech-like voice-activity window that overlaps frame ``k`` or the 32 ms
        before it, up to the frame's end plus the lookahead (all heard when it is emitted)."""
        if self._vad is None:
            return 1.0
        first = max(0, (self._bound(k) - WINDOW) // WINDOW)
        last = (self._bound(k + 1) + self._lookahead) // WINDOW  # windows ending by then
        # Forget windows no later frame can ask for.
        while self._vad_first < first and self._vad_probs:
            self._vad_probs.popleft()
            self._vad_first += 1
        seen = [self._vad_probs[w - self._vad_first] for w in range(first, last)]
        return max(seen, default=0.0)

    def add_phones(self, phones: list[Phone]) -> None:
        """Phones aligned to this stream (seconds from its start; :func:`.phones.align`): the
        frames they cover take their mouths from them instead of from the audio's shapes. Add
        them before the audio they cover is pushed."""
        self.phones.add(phones)

    def flush(self) -> list[VoiceFrame]:
        """Emit every frame that holds received audio, padding the end with silence."""
        if self._flushed:
            return []
        last = -(-self._received * self.fps // self.sample_rate)  # frames holding audio
        pad = max(0, self._bound(last) + self._lookahead - self._received)
        frames = self.push(np.zeros(pad))
        self._flushed = True
        return frames

    def _drain(self) -> list[VoiceFrame]:
        size = self._spectral.size
        while self._window_end(self._analysed) <= self._received:
            end = self._window_end(self._analysed) - self._buf_start
            measured = self._spectral.measure(self._buf[end - size : end])
            self._pending.append(self._tracker.update(measured))
            self._analysed += 1
        out: list[VoiceFrame] = []
        while self._bound(self.frames_emitted + 1) + self._lookahead <= self._received:
            limit = self._bound(self.frames_emitted + 1) + self._lookahead
            now = self._pending.popleft()
            ahead: list[FrameFeatures] = []
            for j, feat in enumerate(self._pending, self.frames_emitted + 1):
                if self._window_end(j) > limit:
                    break
                ahead.append(feat)
            k = self.frames_emitted
            now = replace(now, speech=self._speech(k))
            spoken = (self.phones.mouth(k), self.phones.mouth(k + 1))
            out.append(self._coart.step(now, ahead, spoken if self.phones.covers(k) else None))
            self.frames_emitted += 1
            if k % (10 * self.fps) == 0:
                self.phones.forget(k / self.fps - 1.0)
        keep = self._window_end(self._analysed) - size - self._buf_start
        if keep > 0:
            self._buf = self._buf[keep:]
            self._buf_start += keep
        return out


def analyse(
    samples: npt.ArrayLike,
    fps: int = 25,
    sample_rate: int = SAMPLE_RATE,
    lookahead_ms: float = 40.0,
    voice_activity: bool = True,
) -> list[VoiceFrame]:
    """Analyse a whole track: the same frames as pushing it through a :class:`VoiceAnalyzer`
    in any chunking, then flushing."""
    analyzer = VoiceAnalyzer(
        fps=fps,
        sample_rate=sample_rate,
        lookahead_ms=lookahead_ms,
        voice_activity=voice_activity,
    )
    return analyzer.push(samples) + analyzer.flush()
