from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from lpm_guard.generator import Character, load_audio

from lpm_guard.api import create_app
from lpm_guard.runtime import Runtime

from ..access.conftest import _cheap_argon2, live_world
from ..consent.conftest import people
from ..generator.conftest import flite
from ..server import serving


@pytest.fixture(scope="session")
def character() -> Character:
    from skimage import data

    return Character.from_photo(data.astronaut())


@pytest.fixture(scope="session")
def speech24(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Two seconds or so of flite speech at the protocol's 24 kHz."""
    path = flite("Papa made a palm basket by the beach.", tmp_path_factory.mktemp("s") / "s.wav")
    return load_audio(Path(path), 24_000)


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime=runtime)


@pytest.fixture
def base(app: FastAPI) -> Iterator[str]:
    """The app served over real HTTP: its ws:// base URL."""
    with serving(app) as url:
        yield url.replace("http://", "ws://")


# Fixtures shared with other folders: the live server with accounts, and the consent photos.
__all__ = ["_cheap_argon2", "live_world", "people"]
