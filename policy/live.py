"""LiveChecker: streaming checks over audio chunks and, where a platform supplies it, text.

The audio is always transcribed: a supplied transcript can add a deny, never lift one, and the
audio's own words are checked whatever the transcript says.
"""

from __future__ import annotations

from collections import deque

import av
import numpy as np
import numpy.typing as npt

from ._internal.speech import RATE, Recogniser, Samples, StreamingVad, Transcript, Word
from .audio import sure_words, transcript_hits, unintelligible_hit
from .errors import InputRejected
from .models import Action, Decision, Use
from .policy import Hit, Policy

_SPEECH_PROB = 0.5  # silero-vad frame probability that counts as speech
_END_SILENCE_S = 0.5  # silence that ends an utterance
_MAX_UTTERANCE_S = 15.0  # a longer stretch without a pause is cut here
_LANGUAGE_WINDOW_S = 12.0  # the language signal looks at this much recent stream


class LiveChecker:
    """Feed audio chunks (any allowed sample rate, mono int16 or float) and transcript text.

    Each call returns the decision so far. It is sticky: once denied, a stream stays denied.
    Transcripts are checked by the rules every ``live_check_interval_s`` of stream time, and by
    the rules and the semantic layer (on the words the recogniser is sure of) at the end of each
    utterance, so a disallowed sentence is denied within about a second of being spoken.
    """

    def __init__(self, policy: Policy, use: Use = Use.LIVE) -> None:
        self.policy = policy
        self.use = use
        settings = policy.document.audio
        self._interval = settings.live_check_interval_s
        self._window = settings.live_window_words
        self._vad = StreamingVad()
        self._recogniser = Recogniser(own=True, live=True)
        self._resampler: av.AudioResampler | None = None
        self._rate: int | None = None
        self._samples = 0  # 16 kHz samples fed so far: the stream clock
        self._since_check = 0.0
        self._utterance_speech_s = 0.0
        self._silence_s = 0.0
        self._utterance_start_s = 0.0
        self._heard: list[str] = []  # finished utterances' text
        self._sure: list[str] = []  # the same, only the words the recogniser is sure of
        self._words: list[Word] = []  # finished utterances' words, for the confidence signal
        self._speech_s = 0.0
        self._speech_frames: deque[float] = deque()  # stream times of recent speech frames
        self._hits: dict[str, Hit] = {}
        self.denied_at_s: float | None = None  # stream time of the first deny

    @property
    def stream_time_s(self) -> float:
        return self._samples / RATE

    @property
    def transcript(self) -> str:
        return " ".join(self._heard)

    @property
    def speech_s(self) -> float:
        return self._speech_s

    @property
    def decision(self) -> Decision:
        return self.policy.decide(list(self._hits.values()), self.use, "nothing disallowed so far")

    def feed_transcript(self, text: str) -> Decision:
        """Text a voice platform transcribed: checked, but the audio is checked as well."""
        self._add(self.policy.text_hits(text[-self.policy.document.limits.text.max_chars :]))
        return self.decision

    def feed_audio(self, chunk: bytes | npt.NDArray[np.generic], sample_rate: int) -> Decision:
        samples = self._to_16k(chunk, sample_rate)
        if len(samples) == 0:
            return self.decision
        # (1): the recogniser hears everything; an utterance opens with the stream.
        if not self._recogniser.open:
            self._recogniser.start(self.stream_time_s)
            self._utterance_start_s = self.stream_time_s
        self._recogniser.feed(samples)
        # (2): silero-vad tracks speech and the pause that ends an utterance.
        for prob in self._vad.feed(samples):
            frame_s = 512 / RATE
            if prob >= _SPEECH_PROB:
                self._speech_frames.append(self.stream_time_s)
                self._utterance_speech_s += frame_s
                self._speech_s += frame_s
                self._silence_s = 0.0
            else:
                self._silence_s += frame_s
        self._samples += len(samples)
        self._since_check += len(samples) / RATE
        # (3): at a pause after speech (or a very long stretch) the utterance is decoded in full.
        utterance_s = self.stream_time_s - self._utterance_start_s
        ended = self._utterance_speech_s > 0 and self._silence_s >= _END_SILENCE_S
        if ended or utterance_s >= _MAX_UTTERANCE_S:
            self._finish_utterance()
        # (4): between pauses, the partial transcript is checked every interval.
        elif self._since_check >= self._interval:
            self._since_check = 0.0
            partial = self._recogniser.partial()
            if partial:
                # Rules only: a half-heard sentence ("kill the ...") is not what the semantic
                # layer was trained on; it reads the whole utterance at its end.
                context = " ".join([*self._heard[-1:], partial]).split()[-self._window :]
                self._add(self.policy.rule_hits(" ".join(context)))
        return self.decision

    def finish(self) -> Decision:
        """End of stream: the last utterance is decoded and checked."""
        if self._recogniser.open:
            self._finish_utterance()
        return self.decision

    def _finish_utterance(self) -> None:
        transcript = self._recogniser.end()
        speech_s = self._utterance_speech_s
        self._utterance_speech_s = 0.0
        self._since_check = 0.0
        if speech_s <= 0 and not transcript.words:
            return
        self._heard.append(transcript.text)
        self._sure.append(sure_words(transcript))
        self._add(transcript_hits(self.policy, self._heard[-2:], sure=self._sure[-2:]))
        # The language signal over the recent stream (utterances split at short pauses are
        # too short alone): speech there, but words the recogniser doubts.
        self._words.extend(transcript.words)
        since = self.stream_time_s - _LANGUAGE_WINDOW_S
        while self._speech_frames and self._speech_frames[0] < since:
            self._speech_frames.popleft()
        recent = Transcript(tuple(w for w in self._words if w.end_s >= since))
        signal = unintelligible_hit(
            self.policy, len(self._speech_frames) * 512 / RATE, recent.confidence
        )
        if signal is not None:
            self._add([signal])

    @property
    def recogniser_confidence(self) -> float | None:
        return Transcript(tuple(self._words)).confidence

    def _add(self, hits: list[Hit]) -> None:
        for hit in hits:
            self._hits.setdefault(hit.rule_id, hit)
        if self.denied_at_s is None and self.decision.action is Action.DENY:
            self.denied_at_s = self.stream_time_s

    def _to_16k(self, chunk: bytes | npt.NDArray[np.generic], sample_rate: int) -> Samples:
        limits = self.policy.document.limits.audio
        if not limits.min_sample_rate <= sample_rate <= limits.max_sample_rate:
            raise InputRejected(
                "audio.sample_rate",
                f"sample rate {sample_rate} Hz is outside {limits.min_sample_rate}-"
                f"{limits.max_sample_rate} Hz",
            )
        if self._rate is not None and sample_rate != self._rate:
            raise InputRejected("audio.sample_rate", "the sample rate changed mid-stream")
        self._rate = sample_rate
        if isinstance(chunk, bytes | bytearray | memoryview):
            if len(chunk) % 2:
                raise InputRejected("audio.chunk", "PCM chunk is not whole 16-bit samples")
            data = np.frombuffer(chunk, dtype=np.int16)
        else:
            array = np.asarray(chunk)
            if array.ndim != 1:
                raise InputRejected("audio.chunk", "expected mono audio: one channel, one axis")
            if np.issubdtype(array.dtype, np.floating):
                data = (np.clip(array, -1.0, 1.0) * 32767).astype(np.int16)
            elif array.dtype == np.int16:
                data = array
            else:
                raise InputRejected("audio.chunk", f"unsupported sample type {array.dtype}")
        if sample_rate == RATE:
            return data
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = sample_rate
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, dtype=np.int16)
