"""Voice activity from silero-vad, streamed: one probability per 32 ms of 16 kHz audio.

The model is the sequence ONNX file in the silero-vad wheel (a dependency; the same network as
the streaming one, bit for bit, run over a block of windows in one call), run by onnxruntime on
one thread with numpy buffers, so no torch is loaded for it. Its sha256 is pinned: a different
file is refused.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

WINDOW = 512  # samples at 16 kHz: silero-vad's window
_CONTEXT = 64  # samples of the previous window it sees
_MODEL = "silero_vad_16k_sequence.onnx"
_SHA256 = "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85"


def _model_path() -> Path:
    # Found without importing silero_vad (its __init__ imports torch).
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("silero-vad is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / _MODEL


@cache
def _session() -> Any:
    import onnxruntime

    path = _model_path()
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != _SHA256:
        raise RuntimeError(f"{path}: not the silero-vad model this code was checked with")
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(
        data, providers=["CPUExecutionProvider"], sess_options=options
    )


class VoiceActivity:
    """Speech probability of consecutive 512-sample windows of one stream (state carried)."""

    def __init__(self) -> None:
        self._session = _session()
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(_CONTEXT, np.float32)

    def __call__(self, windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probabilities of ``windows`` (N×512, consecutive, following the previous call's)."""
        if len(windows) == 0:
            return np.zeros(0, np.float32)
        contexts = np.empty((len(windows), _CONTEXT), np.float32)
        contexts[0] = self._context
        contexts[1:] = windows[:-1, -_CONTEXT:]
        block = np.concatenate((contexts, windows), axis=1)
        probs, self._h, self._c = self._session.run(
            None, {"input": block, "h": self._h, "c": self._c}
        )
        self._context = windows[-1, -_CONTEXT:].copy()
        return np.asarray(probs, np.float32).reshape(-1)
