"""A live session's record: its frames and the agent's voice as C2PA-signed segments.

The adapter between the session's ``FrameSink`` seam and the provenance stage's
``SegmentRecorder``: each frame as it leaves, with the voice that plays during it; every
segment signed as it closes (the client hears ``segment.signed``), the whole recording signed at
the end with the segments as its ingredients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import __version__
from ..audit import Receipt
from ..provenance.models import ProvenanceRecord, SegmentSigned
from ..provenance.segments import SegmentRecorder
from ..provenance.services import ProvenanceService
from .live import LiveSession
from .protocol import AUDIO_RATE, ServerEventType


def provenance_record(
    session_id: str,
    receipt: Receipt,
    checkpoint_note: str,
    policy_version: str,
    consent_leaf: bytes,
) -> ProvenanceRecord:
    return ProvenanceRecord(
        session_id=session_id,
        receipt=receipt,
        checkpoint_note=checkpoint_note,
        policy_version=policy_version,
        # The consent stage's decision entry: its leaf hash is the SHA-256 of that record.
        consent_sha256=consent_leaf.hex(),
        generator_version=__version__,
        watermark_reference=receipt.index,
    )


class SignedRecord:
    """``FrameSink`` for a live session: frames and voice into signed segments."""

    def __init__(self, recorder: SegmentRecorder) -> None:
        self.recorder = recorder
        self.closed_path: Path | None = None

    @classmethod
    def start(
        cls,
        provenance: ProvenanceService,
        directory: Path,
        session: LiveSession,
        record: ProvenanceRecord,
    ) -> SignedRecord:
        width, height = session.size

        def signed(segment: SegmentSigned) -> None:
            session.notify(
                ServerEventType.SEGMENT_SIGNED,
                sequence=segment.sequence_number,
                manifest_id=str(segment.manifest_label),
                start=segment.start_s,
                duration=segment.duration_s,
            )

        recorder = provenance.recorder(
            directory,
            stream_id=session.session_id,
            record=record,
            width=width,
            height=height,
            fps=session.fps,
            audio_rate=AUDIO_RATE,
            on_segment=signed,
        )
        return cls(recorder)

    def add_frame(self, rgb: np.ndarray, pts: float, audio: np.ndarray) -> None:
        self.recorder.add_frame(rgb, pts)
        self.recorder.add_audio(audio.astype(np.float32), pts)

    def close(self) -> None:
        self.closed_path = self.recorder.close().path
