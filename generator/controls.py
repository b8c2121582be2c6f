"""The per-frame controls the renderer consumes, and the per-frame voice features behind them.

Every value is unitless and bounded so that behaviour, audio and rendering can be developed and
tested apart. Angles are in radians, in the character's frame: positive ``yaw`` turns the face
towards the viewer's right, positive ``pitch`` tilts the chin down (a nod), positive ``roll``
tilts the head towards the viewer's right shoulder.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"  # the character speaks this audio
    USER = "user"  # the character listens to this audio


class State(StrEnum):
    IDLE = "idle"
    SPEAKING = "speaking"
    LISTENING = "listening"


@dataclass(frozen=True, slots=True)
class VoiceFrame:
    """What one frame's worth of audio (1/fps seconds) says about a voice in it.

    ``energy`` is the voice-band loudness mapped to 0..1 (0 = silence); ``voiced`` the
    probability that a voice (not music, not noise) is present; ``pitch`` in Hz (0 = none);
    ``pitch_rel`` the pitch against the speaker's running median in semitones/12 (about -1..1);
    the mouth targets (``jaw_open``, ``lip_width``, ``lip_round``, ``lip_close``) are 0..1
    after coarticulation smoothing, all 0 in silence.
    """

    energy: float = 0.0
    voiced: float = 0.0
    pitch: float = 0.0
    pitch_rel: float = 0.0
    jaw_open: float = 0.0
    lip_width: float = 0.0
    lip_round: float = 0.0
    lip_close: float = 0.0

    @property
    def speaking(self) -> bool:
        return self.voiced >= 0.5 and self.energy > 0.05


SILENCE = VoiceFrame()


@dataclass(frozen=True, slots=True)
class FaceControls:
    """One frame's pose and expression. Mouth values 0..1; ``smile`` and ``brow_raise`` -1..1
    (negative: frown, brows down); ``blink`` 0 open .. 1 closed; ``gaze_x``/``gaze_y`` -1..1
    (right/down positive, as seen by the viewer); ``breath`` -1..1 (shoulders rise)."""

    jaw_open: float = 0.0
    lip_width: float = 0.0
    lip_round: float = 0.0
    lip_close: float = 0.0
    smile: float = 0.0
    brow_raise: float = 0.0
    blink: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    breath: float = 0.0

    def with_mouth(self, voice: VoiceFrame) -> FaceControls:
        return replace(
            self,
            jaw_open=voice.jaw_open,
            lip_width=voice.lip_width,
            lip_round=voice.lip_round,
            lip_close=voice.lip_close,
        )

    def as_dict(self) -> dict[str, float]:
        return {f.name: round(float(getattr(self, f.name)), 5) for f in fields(self)}
