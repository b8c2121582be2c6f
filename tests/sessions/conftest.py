from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lpm_guard.generator import Character, load_audio

from ..generator.conftest import flite


@pytest.fixture(scope="session")
def character() -> Character:
    from skimage import data

    return Character.from_photo(data.astronaut())


@pytest.fixture(scope="session")
def speech24(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Two seconds or so of flite speech at the protocol's 24 kHz."""
    path = flite("Papa made a palm basket by the beach.", tmp_path_factory.mktemp("s") / "s.wav")
    return load_audio(Path(path), 24_000)
