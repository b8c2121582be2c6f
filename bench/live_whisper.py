"""Would Whisper base keep up with live speech? Share of a core per stream at the live chunking.

    .venv/bin/python bench/live_whisper.py [--voices awb,rms,slt] [--json out.json]

Live, the policy's LiveChecker decodes with pocketsphinx as the audio arrives and checks the
words every ``live_check_interval_s`` (0.5 s) and at each utterance's end. Whisper is not a
streaming recogniser, so it is measured the two ways it could stand in:
- "every interval": the utterance so far is transcribed again every 0.5 s of stream (what a
  partial check needs), and
- "per utterance": each utterance is transcribed once, when 0.5 s of silence ends it.
Each disallowed and harmless phrase of bench/policy.py is spoken by flite after its lead-in
sentence. "core/stream" is CPU seconds per second of stream (the process's, time.process_time:
CTranslate2 computes on a thread of its own, one compute thread): above 1.0 one stream needs
more than a core. "delay" (per utterance) is the time from the phrase's end until its words are
known: the 0.5 s pause plus the transcription's wall time.
The pocketsphinx LiveChecker's own figure for the same streams is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from lpm_guard.policy import Policy
from lpm_guard.policy._internal import whisper
from lpm_guard.policy._internal.speech import RATE
from report import cpu_model, progress  # bench/report.py
from report import table as aligned

from policy import DISALLOWED_SPEECH, HARMLESS_SPEECH, LEAD_IN, speak  # bench/policy.py

INTERVAL_S = 0.5
END_SILENCE_S = 0.5


def measure(policy: Policy, lead_in: np.ndarray, phrase: np.ndarray) -> dict[str, float]:
    gap = np.zeros(int(RATE * END_SILENCE_S), np.int16)
    stream_s = (len(lead_in) + len(phrase) + 2 * len(gap)) / RATE
    # every interval: the utterance so far, again and again (each sentence is one utterance)
    cpu_interval = 0.0
    for utterance in (lead_in, phrase):
        step = int(RATE * INTERVAL_S)
        for end in range(step, len(utterance) + step, step):
            started = time.process_time()
            whisper.transcribe(utterance[:end])
            cpu_interval += time.process_time() - started
    # per utterance: once each, at its end
    cpu_once = 0.0
    walls = []
    for utterance in (lead_in, phrase):
        started, wall = time.process_time(), time.perf_counter()
        whisper.transcribe(utterance)
        cpu_once += time.process_time() - started
        walls.append(time.perf_counter() - wall)
    # pocketsphinx, as the LiveChecker runs it
    checker = policy.live_checker()
    audio = np.concatenate([lead_in, gap, phrase, gap])
    started = time.process_time()
    for i in range(0, len(audio), 320):
        checker.feed_audio(audio[i : i + 320], RATE)
    checker.finish()
    cpu_pocketsphinx = time.process_time() - started
    return {
        "stream_s": stream_s,
        "every_interval_core": cpu_interval / stream_s,
        "per_utterance_core": cpu_once / stream_s,
        "per_utterance_delay_s": END_SILENCE_S + walls[-1],
        "pocketsphinx_core": cpu_pocketsphinx / stream_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voices", default="slt", help="flite voices, comma-separated")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    policy = Policy.load()
    whisper.model()  # loaded before timing
    print("Whisper base (int8, one thread) for live speech")
    print(f"cpu: {cpu_model()}\n")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for voice in args.voices.split(","):
            lead_in = speak(folder, LEAD_IN, voice)
            for text in [*DISALLOWED_SPEECH, *HARMLESS_SPEECH]:
                progress(f"{voice}: {text}")
                results.append(
                    {
                        "voice": voice,
                        "phrase": text,
                        **measure(policy, lead_in, speak(folder, text, voice)),
                    }
                )
    rows = [
        ["voice", "stream s", "every 0.5 s", "per utterance", "delay s", "pocketsphinx", "phrase"]
    ]
    for r in results:
        rows.append(
            [
                r["voice"],
                f"{r['stream_s']:.1f}",
                f"{r['every_interval_core']:.2f}",
                f"{r['per_utterance_core']:.2f}",
                f"{r['per_utterance_delay_s']:.2f}",
                f"{r['pocketsphinx_core']:.2f}",
                r["phrase"][:40],
            ]
        )
    print(aligned(rows, right={1, 2, 3, 4, 5}))
    med = {
        k: statistics.median(r[k] for r in results)
        for k in (
            "every_interval_core",
            "per_utterance_core",
            "per_utterance_delay_s",
            "pocketsphinx_core",
        )
    }
    print(
        f"\nmedian core per stream: Whisper every 0.5 s {med['every_interval_core']:.2f}, "
        f"Whisper per utterance {med['per_utterance_core']:.2f} (words known "
        f"{med['per_utterance_delay_s']:.2f} s after the phrase), "
        f"pocketsphinx {med['pocketsphinx_core']:.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps({"results": results, "median": med}, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
