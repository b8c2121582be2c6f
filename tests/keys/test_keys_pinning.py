"""A node whose keys differ from the ones its database uses refuses to start."""

from __future__ import annotations

from pathlib import Path

import pytest

from lpm_guard.keys import KeyKind, KeysDifferError, KeyStore
from lpm_guard.keys.pinning import pinned
from lpm_guard.keys.services import rotate_key
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings


def node(tmp_path: Path, name: str, database_url: str, **more: object) -> Settings:
    return Settings(
        data_dir=tmp_path / name, database_url=database_url, checkpoint_interval_s=3600, **more
    )


def test_a_second_data_directory_with_other_keys_refuses_to_start(
    database_url: str, tmp_path: Path
) -> None:
    first = Runtime.open(node(tmp_path, "a", database_url))
    try:
        assert set(pinned(first.engine)) == set(KeyKind)
        # (1): an empty data directory: no keys are made beside the database's.
        empty = node(tmp_path, "b", database_url)
        with pytest.raises(KeysDifferError, match="LPM_KEYS_DIR") as refused:
            Runtime.open(empty)
        assert "no keys at" in str(refused.value)
        assert not empty.keys_dir.exists()
        # (2): a data directory with keys of its own: the refusal names the key.
        other = node(tmp_path, "c", database_url)
        KeyStore.open(other.keys_dir)
        with pytest.raises(KeysDifferError, match=r"audit key .* is not the one") as refused:
            Runtime.open(other)
        assert "LPM_KEYS_DIR" in str(refused.value)
        # (3): the shared key directory: it starts.
        shared = node(tmp_path, "d", database_url, keys_dir=first.settings.keys_dir)
        Runtime.open(shared).close()
        # (4): a rotation moves the pin; the nodes sharing the directory follow it.
        rotate_key(first, KeyKind.WATERMARK, "operator:test")
        assert pinned(first.engine)[KeyKind.WATERMARK].key_id == first.keys.active_key_id(
            KeyKind.WATERMARK
        )
        Runtime.open(shared).close()
        with pytest.raises(KeysDifferError):
            Runtime.open(other)
    finally:
        first.close()
