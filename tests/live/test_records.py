"""The live record's writer thread: frames reach signed segments off the render thread, and a
failure in the writer stops the session instead of losing frames silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lpm_guard.live.records import RecordingFailed, SignedRecord
from lpm_guard.provenance.models import ProvenanceRecord
from lpm_guard.provenance.services import ProvenanceService
from lpm_guard.runtime import Runtime
from tests.provenance.conftest import record

__all__ = ["record"]


def recording(runtime: Runtime, record: ProvenanceRecord, directory: Path) -> SignedRecord:
    recorder = ProvenanceService.from_runtime(runtime).recorder(
        directory,
        stream_id="ses_rec",
        record=record,
        width=64,
        height=64,
        fps=25,
        audio_rate=24_000,
    )
    return SignedRecord(recorder, queue_frames=3)


def frame(i: int) -> np.ndarray:
    return np.full((64, 64, 3), (i * 5) % 256, np.uint8)


def test_every_frame_reaches_the_signed_record(
    runtime: Runtime, record: ProvenanceRecord, tmp_path: Path
) -> None:
    sink = recording(runtime, record, tmp_path / "rec")
    for i in range(110):  # more than the queue holds: the render side waits, nothing is lost
        sink.add_frame(frame(i), i / 25, np.zeros(960, np.float32))
    sink.close()
    assert sink.closed_path == tmp_path / "rec" / "ses_rec.mp4"
    segments = sink.recorder.segments
    assert [s.sequence_number for s in segments] == [0, 1, 2]
    assert sum(s.frames for s in segments) == 110
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == [
        "ses_rec-000000.mp4",
        "ses_rec-000001.mp4",
        "ses_rec-000002.mp4",
        "ses_rec.mp4",
    ]


def test_a_failing_writer_is_reported_and_leaves_nothing_unsigned(
    runtime: Runtime, record: ProvenanceRecord, tmp_path: Path
) -> None:
    sink = recording(runtime, record, tmp_path / "rec")
    for i in range(60):
        sink.add_frame(frame(i), i / 25, np.zeros(960, np.float32))
    sink.add_frame(frame(0), 0.0, np.zeros(960, np.float32))  # time goes back: refused
    with pytest.raises(RecordingFailed):
        for i in range(61, 400):  # the writer's failure reaches the render side
            sink.add_frame(frame(i), i / 25, np.zeros(960, np.float32))
    with pytest.raises(RecordingFailed) as failed:
        sink.close()
    assert isinstance(failed.value.__cause__, ValueError)
    # The segment signed before the failure stays; the open one is discarded, unsigned.
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == ["ses_rec-000000.mp4"]
