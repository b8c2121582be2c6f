from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from lpm_guard.policy import Policy

POLICY_FILE = Path(__file__).resolve().parents[2] / "policy" / "data" / "policy.toml"


@pytest.fixture(scope="session")
def policy() -> Policy:
    return Policy.load()


@pytest.fixture(scope="session")
def policy_text() -> str:
    return POLICY_FILE.read_text(encoding="utf-8")


def speak(path: Path, text: str, voice: str = "slt") -> Path:
    """flite speech: the voices pocketsphinx follows well."""
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
    return path


def espeak(path: Path, text: str, voice: str) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return path


def read_wav(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()


def write_wav(path: Path, samples: npt.NDArray[np.int16], rate: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype(np.int16).tobytes())
    return path
