"""Reference photos: limits before decoding, nudenet, exactly one face."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from lpm_guard.policy import Action, Category, InputRejected, Policy, Use
from PIL import Image
from skimage import data

pytestmark = pytest.mark.slow


def save(path: Path, rgb: np.ndarray, fmt: str = "PNG") -> Path:
    Image.fromarray(rgb).save(path, format=fmt)
    return path


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(data.astronaut())


def test_one_face_and_no_nudity_is_allowed_with_attestation(
    policy: Policy, astronaut: np.ndarray, tmp_path: Path
) -> None:
    path = save(tmp_path / "a.jpg", astronaut, "JPEG")
    result = policy.check_image_file(path, Use.OFFLINE, adult_attested=True)
    assert result.action is Action.ALLOW, result.decision.reason
    assert len(result.faces) == 1 and result.nudity == ()
    assert (result.width, result.height) == (512, 512)


def test_without_attestation_minor_likeness_goes_to_review(
    policy: Policy, astronaut: np.ndarray, tmp_path: Path
) -> None:
    path = save(tmp_path / "a.png", astronaut)
    result = policy.check_image_file(path, Use.LIVE)
    assert result.action is Action.REVIEW
    assert result.decision.rule_ids == ("minor_likeness.unattested",)

    class SaysMinor:
        def may_be_minor(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> bool:
            return True

    flagged = policy.check_image_file(path, Use.LIVE, minor_model=SaysMinor())
    assert flagged.decision.rule_ids == ("minor_likeness.detected",)


def test_no_face_or_two_faces_are_denied_unless_an_index_picks_one(
    policy: Policy, astronaut: np.ndarray, tmp_path: Path
) -> None:
    blank = np.full((400, 400, 3), 180, np.uint8)
    none = policy.check_image_file(save(tmp_path / "n.png", blank), Use.LIVE, adult_attested=True)
    assert none.action is Action.DENY and none.decision.rule_ids == ("faces.none",)
    two = save(tmp_path / "two.png", np.concatenate([astronaut, astronaut], axis=1))
    several = policy.check_image_file(two, Use.LIVE, adult_attested=True)
    assert several.decision.rule_ids == ("faces.several",)
    assert Category.FACES in several.decision.categories
    picked = policy.check_image_file(two, Use.LIVE, face_index=1, adult_attested=True)
    assert picked.action is Action.ALLOW
    wrong = policy.check_image_file(two, Use.LIVE, face_index=5, adult_attested=True)
    assert wrong.decision.rule_ids == ("faces.index_out_of_range",)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims a size but holds almost nothing: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    return path


def test_a_decompression_bomb_is_refused_before_decoding(policy: Policy, tmp_path: Path) -> None:
    bomb = _png_header_only(tmp_path / "bomb.png", 7_000, 7_000)
    with pytest.raises(InputRejected, match="pixels; the limit is") as raised:
        policy.check_image_file(bomb, Use.LIVE)
    assert raised.value.limit == "image.pixels"
    huge = _png_header_only(tmp_path / "huge.png", 50_000, 50_000)
    with pytest.raises(InputRejected, match="too many pixels") as raised:
        policy.check_image_file(huge, Use.LIVE)
    assert raised.value.limit == "image.pixels"


def test_size_and_format_limits(policy: Policy, astronaut: np.ndarray, tmp_path: Path) -> None:
    small = save(tmp_path / "small.png", astronaut[:100, :100])
    with pytest.raises(InputRejected, match="sides must be") as raised:
        policy.check_image_file(small, Use.LIVE)
    assert raised.value.limit == "image.size"
    gif = save(tmp_path / "a.gif", astronaut, "GIF")
    with pytest.raises(InputRejected, match="format GIF is not one of") as raised:
        policy.check_image_file(gif, Use.LIVE)
    assert raised.value.limit == "image.format"
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image" * 50)
    with pytest.raises(InputRejected, match="not a readable image") as raised:
        policy.check_image_file(junk, Use.LIVE)
    assert raised.value.limit == "image.decode"
