"""The top-level boxes of an ISO BMFF file, and the ones a C2PA hard binding leaves out.

Hand-written (ISO/IEC 14496-12 §4.2, a few lines): c2pa reports a hash mismatch, but not which
bytes lie outside what the hash covers, nor that a file carries bytes after its last box.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_HEADER = struct.Struct(">I4s")
_LARGE = struct.Struct(">Q")
# Top-level boxes every signed MP4 has outside the hash: its file type and its manifest box.
_EXPECTED_OUTSIDE = frozenset({"ftyp", "uuid"})


@dataclass(frozen=True)
class Box:
    type: str
    offset: int
    size: int
    header: int  # 8, or 16 with a 64-bit size


@dataclass(frozen=True)
class Layout:
    """The whole boxes from the start of the file; ``end`` is where the last one ends, ``size``
    the file's size (``size > end``: bytes that are no whole box follow)."""

    boxes: tuple[Box, ...]
    end: int
    size: int

    @property
    def trailing(self) -> int:
        return self.size - self.end


def read_layout(path: Path) -> Layout:
    size = path.stat().st_size
    boxes: list[Box] = []
    offset = 0
    with path.open("rb") as f:
        while offset + _HEADER.size <= size:
            f.seek(offset)
            length, kind = _HEADER.unpack(f.read(_HEADER.size))
            header = _HEADER.size
            if length == 1:  # a 64-bit size follows the type
                raw = f.read(_LARGE.size)
                if len(raw) < _LARGE.size:
                    break
                (length,) = _LARGE.unpack(raw)
                header += _LARGE.size
            elif length == 0:  # the box runs to the end of the file
                length = size - offset
            if length < header or offset + length > size:
                break
            boxes.append(Box(kind.decode("latin-1"), offset, length, header))
            offset += length
    return Layout(tuple(boxes), offset, size)


def unhashed_payloads(layout: Layout, exclusions: Iterable[str]) -> list[Box]:
    """Top-level boxes with content that a BMFF hash with these exclusions (its ``xpath``
    values) does not cover, beyond the file type and the manifest box every signed file has.
    An empty box (header only, as FFmpeg's ``free`` placeholder) hides nothing."""
    excluded = {x[1:] for x in exclusions if x.startswith("/") and "/" not in x[1:]}
    excluded -= _EXPECTED_OUTSIDE
    return [box for box in layout.boxes if box.type in excluded and box.size > box.header]
