"""Word error rate and cost of the policy's two recognisers: pocketsphinx and Whisper base.

    .venv/bin/python bench/asr.py [--json out.json]

Speech: the real recordings in ../shared/speech (CMU ARCTIC speakers slt and awb, with their
transcripts), flite's rendering of the same prompts in the same speaker's voice, and espeak-ng's
(en-us). Each file is transcribed whole by each recogniser, from a fresh state; WER is the word
edit distance over the reference's word count, summed over the files of a set. "cpu/s" is the
recogniser's CPU seconds (all its threads; Whisper runs on one) per second of audio: the share
of a core one stream of speech would take.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from lpm_guard.policy import Policy
from lpm_guard.policy._internal import speech, whisper
from lpm_guard.policy._internal.decode import decode_file
from report import cpu_model, progress  # bench/report.py
from report import table as aligned

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT.parent / "shared" / "speech"
LIMITS = Policy.load().document.limits.audio


def words(text: str) -> list[str]:
    return ["".join(c for c in w.lower() if c.isalnum() or c == "'") for w in text.split()]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (a few lines; no dependency for it)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def read(path: Path) -> np.ndarray:
    """16 kHz mono int16, through the policy's own decoder and limits."""
    return decode_file(path, LIMITS).samples


def pocketsphinx(samples: np.ndarray) -> str:
    return speech.transcribe(samples, 0.0, speech.Recogniser(own=True)).text


def whisper_base(samples: np.ndarray) -> str:
    return whisper.transcribe(samples).text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    refs = dict(
        line.split("\t", 1)
        for line in (SPEECH / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    sets: dict[str, list[tuple[str, np.ndarray]]] = {"real": [], "flite": [], "espeak-ng": []}
    with tempfile.TemporaryDirectory() as tmp:
        for stem, text in sorted(refs.items()):
            sets["real"].append((text, read(SPEECH / f"{stem}.wav")))
            voice = stem.split("_")[0]
            flite = Path(tmp) / f"{stem}-flite.wav"
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(flite)], check=True)
            sets["flite"].append((text, read(flite)))
            espeak = Path(tmp) / f"{stem}-espeak.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(espeak), text], check=True)
            sets["espeak-ng"].append((text, read(espeak)))
    whisper.model()  # load (and join the halves on first use) outside the timings
    results: dict[str, dict[str, float]] = {}
    for name, fn in (("pocketsphinx", pocketsphinx), ("whisper base int8", whisper_base)):
        for set_name, items in sets.items():
            errors = total = 0
            cpu = audio_s = 0.0
            for text, samples in items:
                progress(f"{name}: {set_name}: {text[:40]}")
                start = time.process_time()
                hyp = fn(samples)
                cpu += time.process_time() - start
                audio_s += len(samples) / 16000
                ref = words(text)
                errors += edit_distance(ref, words(hyp))
                total += len(ref)
            results[f"{name} / {set_name}"] = {
                "wer": errors / total,
                "words": total,
                "files": len(items),
                "cpu_per_audio_s": cpu / audio_s,
            }
    print(f"cpu: {cpu_model()}")
    rows = [["recogniser / speech", "files", "words", "WER", "cpu/s"]]
    for key, r in results.items():
        rows.append(
            [
                key,
                f"{r['files']:.0f}",
                f"{r['words']:.0f}",
                f"{r['wer']:.1%}",
                f"{r['cpu_per_audio_s']:.2f}",
            ]
        )
    print(aligned(rows, right={1, 2, 3, 4}))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
