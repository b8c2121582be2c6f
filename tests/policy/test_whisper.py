"""Whisper base: the halves joined only when they match the pinned hash, checked at each load."""

from __future__ import annotations

from pathlib import Path

import pytest
from lpm_guard.policy._internal import whisper

pytestmark = pytest.mark.slow


def test_the_joined_model_is_verified_and_a_tampered_copy_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LPM_POLICY_CACHE", str(tmp_path))
    folder = whisper.model_folder()
    assert folder.parent == tmp_path
    model = folder / "model.bin"
    assert whisper._sha256(model) == whisper.MODEL_SHA256
    with model.open("r+b") as f:  # one byte changed in the cached copy
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert not whisper._verified_folder(folder)
    assert whisper.model_folder() == folder
    assert whisper._sha256(model) == whisper.MODEL_SHA256


def test_halves_that_do_not_join_to_the_pinned_model_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LPM_POLICY_CACHE", str(tmp_path))
    monkeypatch.setattr(whisper, "MODEL_SHA256", "0" * 64)
    with pytest.raises(whisper.SpeechModelError, match="not the pinned"):
        whisper.model_folder()
    assert not any(tmp_path.glob("whisper-*/model.bin"))
