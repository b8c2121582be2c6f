"""Speech: decoding audio to 16 kHz mono, silero-vad for where speech is, pocketsphinx for words.

Both models ship in their wheels; nothing is downloaded. Each is loaded once per process, on
first use, and used under a lock (neither is safe to share between threads).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

RATE = 16_000  # what both models take
VAD_FRAME = 512  # silero-vad's window at 16 kHz (32 ms)
_ALT = re.compile(r"\(\d+\)$")  # pocketsphinx's pronunciation variants: "the(2)"
_LOCK = threading.RLock()  # guards the shared decoder and VAD model

Samples = npt.NDArray[np.int16]


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float
    end_s: float
    prob: float  # posterior probability from pocketsphinx's lattice


@dataclass(frozen=True)
class Transcript:
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def confidence(self) -> float | None:
        """Duration-weighted mean word posterior; None when nothing was recognised."""
        total = sum(w.end_s - w.start_s for w in self.words)
        if total <= 0:
            return None
        return sum(w.prob * (w.end_s - w.start_s) for w in self.words) / total


# A live stream's decoder: one search pass and at most 3,000 active HMMs per frame (the
# defaults run a second, flat-lexicon pass and allow 30,000). About 40 % less CPU per stream
# of speech; bench/policy.py measures the live decisions it gives.
_LIVE = {"fwdflat": False, "maxhmmpf": 3000}


def _new_decoder(live: bool = False) -> Any:
    from pocketsphinx import Decoder

    return Decoder(samprate=RATE, bestpath=True, loglevel="FATAL", **(_LIVE if live else {}))


def _new_vad() -> Any:
    from silero_vad import load_silero_vad

    return load_silero_vad()


@cache
def _decoder() -> Any:
    return _new_decoder()


@cache
def _vad() -> Any:
    return _new_vad()


class Recogniser:
    """One pocketsphinx utterance at a time, fed in pieces (live) or whole (offline).

    ``own=True`` gives the recogniser a decoder of its own (a live stream); otherwise it
    shares the process's decoder under a lock. ``live=True`` (with ``own``) trades a little
    accuracy for speed: a server runs one per live session.
    """

    def __init__(self, own: bool = False, live: bool = False) -> None:
        self._decoder = _new_decoder(live) if own else _decoder()
        self._lock = threading.RLock() if own else _LOCK
        self._offset_s = 0.0
        self._open = False

    def start(self, offset_s: float) -> None:
        with self._lock:
            self._decoder.start_utt()
        self._offset_s = offset_s
        self._open = True

    def feed(self, samples: Samples) -> None:
        with self._lock:
            self._decoder.process_raw(samples.tobytes(), False, False)

    def partial(self) -> str:
        with self._lock:
            hyp = self._decoder.hyp()
        return "" if hyp is None else str(hyp.hypstr)

    def end(self) -> Transcript:
        with self._lock:
            self._decoder.end_utt()
            self._open = False
            words = []
            frame_s = 1.0 / 100  # pocketsphinx counts 10 ms frames
            # Plain loop: materialising pocketsphinx's iterators (list(...)) can crash it. seg()
            # is None for an utterance without a hypothesis (a stream that ends just after one
            # opened: a few 20 ms chunks of silence).
            for seg in self._decoder.seg() or ():
                word = _ALT.sub("", seg.word)
                if word.startswith(("<", "[", "+")):
                    continue  # <s>, </s>, <sil>, [NOISE], +FILLER+
                words.append(
                    Word(
                        text=word,
                        start_s=self._offset_s + seg.start_frame * frame_s,
                        end_s=self._offset_s + (seg.end_frame + 1) * frame_s,
                        prob=min(1.0, float(seg.prob)),
                    )
                )
        return Transcript(tuple(words))

    @property
    def open(self) -> bool:
        return self._open


def transcribe(
    samples: Samples, offset_s: float = 0.0, recogniser: Recogniser | None = None
) -> Transcript:
    """One utterance. Without a recogniser, the shared one: its running cepstral mean carries
    over from what it heard before, so pass a fresh one where results must not depend on that."""
    recogniser = recogniser or Recogniser()
    with recogniser._lock:  # the whole utterance: no other caller interleaves on the decoder
        recogniser.start(offset_s)
        recogniser.feed(samples)
        return recogniser.end()


def speech_segments(samples: Samples) -> list[tuple[float, float]]:
    """(start, end) seconds of speech in 16 kHz audio, by silero-vad."""
    import torch
    from silero_vad import get_speech_timestamps

    audio = torch.from_numpy(samples.astype(np.float32) / 32768.0)
    with _LOCK:
        stamps = get_speech_timestamps(audio, _vad(), sampling_rate=RATE)
    return [(s["start"] / RATE, s["end"] / RATE) for s in stamps]


class StreamingVad:
    """silero-vad over a stream: speech probability per 32 ms frame, state kept across calls.

    The sequence ONNX model in the silero-vad wheel (the same network as the streaming
    ``silero_vad.jit``, its probabilities within 3e-6 of it) runs every whole window a call
    brings in one onnxruntime call, on one thread and numpy buffers: about a fifth of the
    JIT model's CPU run one window at a time under torch (a live server runs one per session).
    Each stream keeps its own state (the LSTM's and the previous window's last samples); the
    session is shared. The generator runs the same file (``generator/vad.py``); stage packages
    do not import each other, so the few lines that run it are here as well.
    """

    def __init__(self) -> None:
        self._session = _sequence_vad()
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(_VAD_CONTEXT, np.float32)
        self._pending = np.zeros(0, dtype=np.int16)

    def feed(self, samples: Samples) -> list[float]:
        self._pending = np.concatenate([self._pending, samples])
        whole = len(self._pending) // VAD_FRAME * VAD_FRAME
        if whole == 0:
            return []
        windows = (self._pending[:whole].astype(np.float32) / 32768.0).reshape(-1, VAD_FRAME)
        self._pending = self._pending[whole:]
        contexts = np.empty((len(windows), _VAD_CONTEXT), np.float32)
        contexts[0] = self._context
        contexts[1:] = windows[:-1, -_VAD_CONTEXT:]
        block = np.concatenate((contexts, windows), axis=1)
        probs, self._h, self._c = self._session.run(
            None, {"input": block, "h": self._h, "c": self._c}
        )
        self._context = windows[-1, -_VAD_CONTEXT:].copy()
        return [float(p) for p in np.asarray(probs, np.float32).reshape(-1)]


_VAD_CONTEXT = 64  # samples of the previous window silero-vad sees
_SEQUENCE_VAD = "silero_vad_16k_sequence.onnx"
_SEQUENCE_VAD_SHA256 = "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85"


@cache
def _sequence_vad() -> Any:
    """The sequence model's onnxruntime session (sha256 pinned: a different file is refused)."""
    import hashlib
    import importlib.util
    from pathlib import Path

    import onnxruntime

    # Found without importing silero_vad (its __init__ imports torch).
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("silero-vad is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / _SEQUENCE_VAD
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != _SEQUENCE_VAD_SHA256:
        raise RuntimeError(f"{path}: not the silero-vad model this code was checked with")
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(
        data, providers=["CPUExecutionProvider"], sess_options=options
    )
