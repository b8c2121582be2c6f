"""Live-segment chains: each segment's manifest names its stream, its sequence number and the
manifest id of the segment before it, so a dropped, swapped or inserted segment shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .report import ChainReport, SegmentInfo


@dataclass(frozen=True)
class Link:
    """One segment as read: its name (file or ingredient title), manifest id, segment fields,
    and whether C2PA found its own manifest intact."""

    name: str
    manifest_id: str | None
    segment: SegmentInfo | None
    intact: bool


def check_chain(links: Sequence[Link], *, from_start: bool = True) -> ChainReport:
    """Check a run of segments in the order given; ``from_start`` requires sequence number 0
    first (a whole recording), otherwise any window of a stream is accepted."""
    problems: list[str] = []
    if not links:
        return ChainReport(status="broken", stream_id=None, segments=0, problems=["no segments"])
    stream_id = links[0].segment.stream_id if links[0].segment else None
    previous: Link | None = None
    for position, link in enumerate(links):
        where = f"segment {position} ({link.name})"
        # (1): every segment carries an intact manifest with the segment fields.
        if link.manifest_id is None or link.segment is None:
            problems.append(f"{where}: no live-segment manifest")
            previous = None
            continue
        if not link.intact:
            problems.append(f"{where}: its manifest does not validate (tampered)")
        segment = link.segment
        # (2): one stream throughout.
        if segment.stream_id != stream_id:
            problems.append(f"{where}: belongs to stream {segment.stream_id!r}, not {stream_id!r}")
        # (3): sequence numbers count up by one from 0 (or from the window's first).
        if previous is None or previous.segment is None:
            if position == 0 and from_start and segment.sequence_number != 0:
                problems.append(
                    f"{where}: the recording starts at sequence number "
                    f"{segment.sequence_number}, not 0"
                )
            if position == 0 and from_start and segment.previous_manifest_id is not None:
                problems.append(f"{where}: the first segment names a predecessor")
        else:
            expected = previous.segment.sequence_number + 1
            if segment.sequence_number > expected:
                problems.append(
                    f"{where}: sequence number {segment.sequence_number} follows "
                    f"{expected - 1}: {segment.sequence_number - expected} segment(s) missing"
                )
            elif segment.sequence_number < expected:
                problems.append(
                    f"{where}: sequence number {segment.sequence_number} after "
                    f"{expected - 1}: out of order or repeated"
                )
            # (4): each names the manifest of the segment before it.
            if segment.previous_manifest_id != previous.manifest_id:
                problems.append(
                    f"{where}: names {segment.previous_manifest_id!r} as its predecessor, "
                    f"but the segment before it is {previous.manifest_id!r}"
                )
        previous = link
    return ChainReport(
        status="broken" if problems else "intact",
        stream_id=stream_id,
        segments=len(links),
        problems=problems,
    )
