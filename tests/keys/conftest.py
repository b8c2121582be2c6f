from __future__ import annotations

import struct
from pathlib import Path

import pytest

from lpm_guard.keys import KeyStore


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "keys"


@pytest.fixture
def store(keys_dir: Path) -> KeyStore:
    return KeyStore.open(keys_dir)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


@pytest.fixture
def tiny_jpeg() -> bytes:
    """A valid baseline JPEG: one 8x8 grey block (DC difference 0, then end of block)."""
    quantization = _segment(0xDB, b"\x00" + b"\x01" * 64)
    frame = _segment(0xC0, b"\x08" + struct.pack(">HH", 8, 8) + b"\x01" + b"\x01\x11\x00")
    one_symbol_table = b"\x01" + b"\x00" * 15 + b"\x00"
    dc_table = _segment(0xC4, b"\x00" + one_symbol_table)
    ac_table = _segment(0xC4, b"\x10" + one_symbol_table)
    scan = _segment(0xDA, b"\x01" + b"\x01\x00" + b"\x00\x3f\x00")
    entropy_coded = b"\x3f"
    return (
        b"\xff\xd8"
        + quantization
        + frame
        + dc_table
        + ac_table
        + scan
        + entropy_coded
        + b"\xff\xd9"
    )
