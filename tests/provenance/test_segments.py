"""Live recording: signed segments chained by manifest id, and the signed whole recording."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from lpm_guard.keys import KeyStore
from lpm_guard.provenance.errors import RecorderClosed
from lpm_guard.provenance.models import ProvenanceRecord, SegmentSigned
from lpm_guard.provenance.reading import read_c2pa
from lpm_guard.provenance.segments import SegmentRecorder
from lpm_guard.provenance.services import ProvenanceService
from lpm_guard.provenance.trust import TrustAnchors

from .conftest import FPS, HEIGHT, WIDTH, frame

SEGMENT_S = 0.4  # 10 frames: short segments keep the test fast; the default is 2 s


def record_stream(
    service: ProvenanceService,
    record: ProvenanceRecord,
    directory: Path,
    *,
    stream_id: str = "live_a",
    frames: int = 40,
    audio: bool = True,
) -> tuple[SegmentRecorder, list[SegmentSigned], Path]:
    events: list[SegmentSigned] = []
    recorder = service.recorder(
        directory,
        stream_id=stream_id,
        record=record,
        width=WIDTH,
        height=HEIGHT,
        fps=FPS,
        segment_s=SEGMENT_S,
        audio_rate=48000 if audio else None,
        on_segment=events.append,
        preset="ultrafast",
    )
    for i in range(frames):
        recorder.add_frame(frame(i), i / FPS)
        if audio and i % 5 == 0:  # audio arrives in 200 ms chunks
            t = np.arange(9600) / 48000 + i / FPS
            recorder.add_audio((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    whole = recorder.close().path
    return recorder, events, whole


@pytest.fixture
def stream(
    service: ProvenanceService, record: ProvenanceRecord, out_dir: Path
) -> tuple[list[SegmentSigned], Path]:
    _, events, whole = record_stream(service, record, out_dir)
    return events, whole


def test_each_segment_is_signed_as_it_closes_and_names_its_predecessor(
    stream: tuple[list[SegmentSigned], Path], keys: KeyStore
) -> None:
    events, _ = stream
    assert [e.sequence_number for e in events] == [0, 1, 2, 3]
    assert [e.frames for e in events] == [10, 10, 10, 10]
    assert events[0].previous_manifest_label is None
    for before, after in itertools.pairwise(events):
        assert after.previous_manifest_label == before.manifest_label
    anchors = TrustAnchors.from_keys(keys)
    for event in events:
        report = read_c2pa(event.path, anchors).report
        assert report.status == "trusted"
        assert report.manifest_id == event.manifest_label
        assert report.segment is not None
        assert report.segment.stream_id == "live_a"
        assert report.segment.sequence_number == event.sequence_number
        assert report.segment.previous_manifest_id == event.previous_manifest_label
        assert report.provenance is not None  # every segment is a full output MP4
    directory = events[0].path.parent
    assert sorted(p.name for p in directory.iterdir()) == [
        "live_a-000000.mp4",
        "live_a-000001.mp4",
        "live_a-000002.mp4",
        "live_a-000003.mp4",
        "live_a.mp4",
    ]


def test_the_whole_recording_is_signed_with_the_segments_as_ingredients(
    stream: tuple[list[SegmentSigned], Path], keys: KeyStore
) -> None:
    events, whole = stream
    report = read_c2pa(whole, TrustAnchors.from_keys(keys)).report
    assert report.status == "trusted"
    assert report.chain is not None
    assert report.chain.status == "intact", report.chain.problems
    assert report.chain.segments == 4
    with av.open(str(whole)) as container:
        assert container.streams.audio, "the recording keeps its audio"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 40
    # The recording's video is the segments' packets: frame 25 is the 6th of segment 2.
    with av.open(str(events[2].path)) as container:
        segment_frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert np.array_equal(frames[25], segment_frames[5])
    assert np.abs(frames[25].astype(int) - frame(25).astype(int)).mean() < 8


def test_an_intact_chain_verifies(
    stream: tuple[list[SegmentSigned], Path], service: ProvenanceService
) -> None:
    events, _ = stream
    report = service.verify_segments([e.path for e in events])
    assert report.status == "intact" and report.problems == []
    assert report.stream_id == "live_a"


def test_a_dropped_segment_breaks_the_chain(
    stream: tuple[list[SegmentSigned], Path], service: ProvenanceService
) -> None:
    paths = [e.path for e in stream[0]]
    report = service.verify_segments([paths[0], paths[1], paths[3]])
    assert report.status == "broken"
    assert any("1 segment(s) missing" in p for p in report.problems)


def test_a_dropped_first_segment_breaks_the_chain(
    stream: tuple[list[SegmentSigned], Path], service: ProvenanceService
) -> None:
    paths = [e.path for e in stream[0]]
    assert service.verify_segments(paths[1:]).status == "broken"


def test_swapped_segments_break_the_chain(
    stream: tuple[list[SegmentSigned], Path], service: ProvenanceService
) -> None:
    paths = [e.path for e in stream[0]]
    report = service.verify_segments([paths[0], paths[2], paths[1], paths[3]])
    assert report.status == "broken"
    assert any("out of order" in p for p in report.problems)


def test_a_segment_inserted_from_another_stream_breaks_the_chain(
    stream: tuple[list[SegmentSigned], Path],
    service: ProvenanceService,
    record: ProvenanceRecord,
    tmp_path: Path,
) -> None:
    paths = [e.path for e in stream[0]]
    _, other, _ = record_stream(
        service, record, tmp_path / "other", stream_id="live_b", frames=20, audio=False
    )
    report = service.verify_segments([paths[0], paths[1], other[1].path, paths[2], paths[3]])
    assert report.status == "broken"
    assert any("belongs to stream 'live_b'" in p for p in report.problems)


def test_a_same_stream_forgery_with_the_right_number_breaks_the_chain(
    stream: tuple[list[SegmentSigned], Path],
    service: ProvenanceService,
    record: ProvenanceRecord,
    tmp_path: Path,
) -> None:
    # A second recording that reuses the stream id: its segment 2 has the right stream and
    # number, but names a predecessor that is not our segment 1.
    paths = [e.path for e in stream[0]]
    _, twin, _ = record_stream(
        service, record, tmp_path / "twin", stream_id="live_a", frames=30, audio=False
    )
    report = service.verify_segments([paths[0], paths[1], twin[2].path, paths[3]])
    assert report.status == "broken"
    assert any("as its predecessor" in p for p in report.problems)


def test_a_tampered_segment_breaks_the_chain(
    stream: tuple[list[SegmentSigned], Path], service: ProvenanceService
) -> None:
    paths = [e.path for e in stream[0]]
    data = bytearray(paths[1].read_bytes())
    data[data.find(b"mdat") + 40] ^= 0x10
    paths[1].write_bytes(bytes(data))
    report = service.verify_segments(paths)
    assert report.status == "broken"
    assert any("tampered" in p for p in report.problems)


def test_a_pause_in_the_video_keeps_sequence_numbers_consecutive(
    service: ProvenanceService, record: ProvenanceRecord, out_dir: Path
) -> None:
    events: list[SegmentSigned] = []
    recorder = service.recorder(
        out_dir,
        stream_id="paused",
        record=record,
        width=WIDTH,
        height=HEIGHT,
        fps=FPS,
        segment_s=SEGMENT_S,
        on_segment=events.append,
        preset="ultrafast",
    )
    times = [i / FPS for i in range(10)] + [2.0 + i / FPS for i in range(10)]
    for i, t in enumerate(times):
        recorder.add_frame(frame(i), t)
    recorder.close()
    assert [e.sequence_number for e in events] == [0, 1]
    assert events[1].start_s == pytest.approx(2.0)
    assert service.verify_segments([e.path for e in events]).status == "intact"


def test_bad_frames_and_use_after_close_are_refused(
    service: ProvenanceService, record: ProvenanceRecord, out_dir: Path
) -> None:
    recorder = service.recorder(
        out_dir,
        stream_id="s",
        record=record,
        width=WIDTH,
        height=HEIGHT,
        fps=FPS,
        preset="ultrafast",
    )
    with pytest.raises(ValueError, match="uint8"):
        recorder.add_frame(np.zeros((HEIGHT, WIDTH), np.uint8), 0.0)
    recorder.add_frame(frame(0), 0.0)
    with pytest.raises(ValueError, match="increase"):
        recorder.add_frame(frame(1), 0.0)
    recorder.close()
    with pytest.raises(RecorderClosed):
        recorder.add_frame(frame(2), 1.0)
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".")]


def test_verify_file_reports_the_recordings_segment_chain(
    stream: tuple[list[SegmentSigned], Path], service: ProvenanceService
) -> None:
    events, whole = stream
    report = service.verify_file(whole)
    assert report.verdict == "authentic"
    assert report.c2pa.chain is not None and report.c2pa.chain.status == "intact"
    single = service.verify_file(events[1].path)
    assert single.c2pa.segment is not None and single.c2pa.segment.sequence_number == 1
    assert single.audit is not None and single.audit.status == "included"


def test_abort_keeps_signed_segments_and_leaves_no_partial_files(
    service: ProvenanceService, record: ProvenanceRecord, out_dir: Path
) -> None:
    events: list[SegmentSigned] = []
    recorder = service.recorder(
        out_dir,
        stream_id="cut",
        record=record,
        width=WIDTH,
        height=HEIGHT,
        fps=FPS,
        segment_s=SEGMENT_S,
        on_segment=events.append,
        preset="ultrafast",
    )
    for i in range(15):  # one whole segment and half of the next
        recorder.add_frame(frame(i), i / FPS)
    recorder.abort()
    assert [p.name for p in sorted(out_dir.iterdir())] == ["cut-000000.mp4"]
    assert len(events) == 1
    with pytest.raises(RecorderClosed):
        recorder.close()
