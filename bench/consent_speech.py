"""The consent capture's spoken checks (digits, statement): pocketsphinx alone, and with
Whisper base asked where pocketsphinx refuses (issue 21).

    .venv/bin/python bench/consent_speech.py            # ~6-10 minutes on a loaded machine
    .venv/bin/python bench/consent_speech.py --quick    # one script per voice, fewer attacks
    .venv/bin/python bench/consent_speech.py --json out.json

Bona fide speech, each judged by ``spoken.digits_verdicts`` / ``statement_verdicts`` (what
``check_digits`` and ``check_statement`` decide on):
- real voices: ../shared/speech (CMU ARCTIC slt and awb), each prompt as its own statement,
  after 0.5 s of silence (as tests/consent/test_liveness.py does);
- flite (slt, kal16, awb, rms) and espeak-ng voices reading fresh scripts' digits (one by one)
  and the consent statement, placed in the script's windows (tests/consent/captures.py).

Attacks, which must stay refused: the digits only (the statement window silent), the digits
read again in the statement window, the wrong statement ("I agree to take part in this
research ...", with other digits), all ten digits read for the four (the script's four put in
ascending order: the worst case, all four among the ten in order), and a different sentence
(another ARCTIC prompt, read by the real speakers and by the synthetic voices).

"pocketsphinx": the first stage alone, i.e. the check as it was before Whisper (that code is
unchanged). "+ Whisper": the check's decision. "Whisper ran": the windows pocketsphinx refused;
its CPU is the process's CPU seconds during the Whisper call (one thread; loaded beforehand).
"score": the deciding recogniser's (digits heard in order of 4; share of the statement's words
in order), against 75 % and 50 % needed.
The exit status is 1 when any attack is accepted.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))  # tests.consent: the voices
from lpm_guard.generator import load_audio
from lpm_guard.policy import whisper_transcript
from report import cpu_model, progress, table

from lpm_guard.consent.liveness import spoken
from lpm_guard.consent.liveness.decode import RATE
from lpm_guard.consent.liveness.script import DIGIT_WORDS, Prompt, Script, Step, new_script
from tests.consent import captures

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT.parent / "shared" / "speech"
FLITE = ("slt", "kal16", "awb", "rms")
ESPEAK = ("en-us", "en-us+m3", "en-us+f3", "en-gb", "en-gb-scotland", "en-029")
OLD_PHRASE = "I agree to take part in this research. My challenge phrase is purple river seven."
TEN = " ".join(DIGIT_WORDS)
LEAD_S = 0.4  # the reading starts this long after its prompt


@dataclass
class Row:
    group: str  # "bona fide: real" ... or "attack: ..."
    voice: str
    check: str  # "digits" or "statement"
    first: bool  # pocketsphinx passed
    final: bool  # the check passed
    score: float  # the deciding verdict's: digits in order / 4, or the statement's share
    recogniser: str  # which decided
    whisper_cpu_s: float | None  # None: Whisper did not run
    heard: str


def say(text: str, voice: str) -> np.ndarray:
    """``voice``: a flite voice or "espeak:<voice>"; 16 kHz float32."""
    return np.asarray(resample_poly(captures.tts(text, voice), 1, 3), dtype=np.float32)


def digits_read(text: str, voice: str) -> np.ndarray:
    step = Step(Prompt.DIGITS, 0.0, 1.0, text)
    return np.asarray(resample_poly(captures.reading(step, voice), 1, 3), dtype=np.float32)


def placed(parts: list[tuple[float, np.ndarray]], seconds: float) -> np.ndarray:
    return captures.placed(parts, seconds, RATE)


def judged(group: str, voice: str, check: str, verdicts: list[spoken.Verdict]) -> Row:
    last = verdicts[-1]
    return Row(
        group,
        voice,
        check,
        verdicts[0].passed,
        last.passed,
        last.score,
        last.recogniser,
        verdicts[1].cpu_s if len(verdicts) > 1 else None,
        " | ".join(v.heard.text for v in verdicts),
    )


def other_digits(digits: str, rng: random.Random) -> str:
    """Four distinct digits sharing at most two, in order, with ``digits``."""
    wanted = digits.split()
    while True:
        other = rng.sample(DIGIT_WORDS, 4)
        if spoken.in_order(other, wanted) <= 2:
            return " ".join(other)


def script_rows(voice: str, scripts: list[Script], attacks: bool, prompts: list[str]) -> list[Row]:
    rows: list[Row] = []
    kind = "espeak-ng" if voice.startswith("espeak") else "flite"
    rng = random.Random(voice)
    for n, script in enumerate(scripts):
        (digits,) = script.of(Prompt.DIGITS)
        (statement,) = script.of(Prompt.STATEMENT)
        progress(f"{voice}: script {n + 1}")
        read_digits = digits_read(digits.text, voice)
        read_statement = say(statement.text, voice)
        audio = placed(
            [(digits.start_s + LEAD_S, read_digits), (statement.start_s + LEAD_S, read_statement)],
            script.duration_s,
        )
        group = f"bona fide: {kind}"
        rows.append(judged(group, voice, "digits", spoken.digits_verdicts(audio, digits)))
        rows.append(judged(group, voice, "statement", spoken.statement_verdicts(audio, statement)))
        if not attacks or n > 0:
            continue
        only = placed([(digits.start_s + LEAD_S, read_digits)], script.duration_s)
        verdicts = spoken.statement_verdicts(only, statement)
        rows.append(judged("attack: the digits only", voice, "statement", verdicts))
        again = placed(
            [(digits.start_s + LEAD_S, read_digits), (statement.start_s + LEAD_S, read_digits)],
            script.duration_s,
        )
        verdicts = spoken.statement_verdicts(again, statement)
        rows.append(judged("attack: digits for the statement", voice, "statement", verdicts))
        wrong = placed(
            [
                (digits.start_s + LEAD_S, digits_read(other_digits(digits.text, rng), voice)),
                (statement.start_s + LEAD_S, say(OLD_PHRASE, voice)),
            ],
            script.duration_s,
        )
        group = "attack: the wrong statement"
        rows.append(judged(group, voice, "digits", spoken.digits_verdicts(wrong, digits)))
        verdicts = spoken.statement_verdicts(wrong, statement)
        rows.append(judged(group, voice, "statement", verdicts))
        # Against ascending digits, the worst case: all four are among the ten in order.
        ascending = replace(
            digits, text=" ".join(sorted(digits.text.split(), key=DIGIT_WORDS.index))
        )
        ten = placed([(digits.start_s + LEAD_S / 2, say(TEN, voice))], script.duration_s)
        verdicts = spoken.digits_verdicts(ten, ascending)
        rows.append(judged("attack: the ten digits", voice, "digits", verdicts))
        for negated in (
            statement.text.replace("I agree", "I do not agree", 1),
            statement.text.replace("I agree", "I don't agree", 1),
        ):
            refused = placed([(statement.start_s + LEAD_S, say(negated, voice))], script.duration_s)
            verdicts = spoken.statement_verdicts(refused, statement)
            rows.append(judged("attack: the statement negated", voice, "statement", verdicts))
        for prompt in prompts:
            other = placed([(statement.start_s + LEAD_S, say(prompt, voice))], script.duration_s)
            verdicts = spoken.statement_verdicts(other, statement)
            rows.append(judged("attack: a different sentence", voice, "statement", verdicts))
    return rows


def real_rows() -> list[Row]:
    lines = (SPEECH / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    prompts = [(stem, text.strip()) for stem, text in (line.split("\t") for line in lines if line)]
    rows: list[Row] = []
    for i, (stem, text) in enumerate(prompts):
        progress(f"real: {stem}")
        audio = load_audio(SPEECH / f"{stem}.wav", RATE)
        padded = np.concatenate([np.zeros(RATE // 2, np.float32), audio])
        seconds = padded.size / RATE
        own = Step(Prompt.STATEMENT, 0.5, seconds, text)
        verdicts = spoken.statement_verdicts(padded, own)
        rows.append(judged("bona fide: real", stem, "statement", verdicts))
        other = prompts[(i + 1) % len(prompts)][1]
        wrong = Step(Prompt.STATEMENT, 0.5, seconds, other)
        verdicts = spoken.statement_verdicts(padded, wrong)
        rows.append(judged("attack: a different sentence", stem, "statement", verdicts))
    return rows


def summary(rows: list[Row]) -> list[dict[str, object]]:
    out = []
    for group in dict.fromkeys(r.group for r in rows):
        for check in ("digits", "statement"):
            mine = [r for r in rows if r.group == group and r.check == check]
            if not mine:
                continue
            cpu = [r.whisper_cpu_s for r in mine if r.whisper_cpu_s is not None]
            out.append(
                {
                    "group": group,
                    "check": check,
                    "n": len(mine),
                    "pocketsphinx_passed": sum(r.first for r in mine),
                    "final_passed": sum(r.final for r in mine),
                    "whisper_ran": len(cpu),
                    "score_min": min(r.score for r in mine),
                    "score_max": max(r.score for r in mine),
                    "whisper_cpu_s_median": statistics.median(cpu) if cpu else None,
                    "whisper_cpu_s_max": max(cpu) if cpu else None,
                }
            )
    return out


def per_capture(rows: list[Row]) -> dict[str, object]:
    """Bona fide synthetic captures (a digits and a statement row each, in order): how many
    needed Whisper, and its CPU seconds per such capture."""
    bona = [r for r in rows if r.group in ("bona fide: flite", "bona fide: espeak-ng")]
    pairs = list(zip(bona[0::2], bona[1::2], strict=True))
    cpu = [
        sum(r.whisper_cpu_s or 0.0 for r in pair)
        for pair in pairs
        if any(r.whisper_cpu_s is not None for r in pair)
    ]
    return {
        "captures": len(pairs),
        "with_fallback": len(cpu),
        "whisper_cpu_s_per_capture_median": statistics.median(cpu) if cpu else None,
        "whisper_cpu_s_per_capture_max": max(cpu) if cpu else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rows", action="store_true", help="print every judged window")
    args = parser.parse_args()
    progress("loading Whisper base")
    whisper_transcript(np.zeros(RATE, np.float32))  # loaded outside the timings
    lines = (SPEECH / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    arctic = [line.split("\t")[1].strip() for line in lines if line]
    scripts = [new_script(rng=random.Random(seed)) for seed in range(1 if args.quick else 3)]
    voices = [*FLITE, *(f"espeak:{v}" for v in ESPEAK)]
    if args.quick:
        voices = ["slt", "kal16", "espeak:en-us", "espeak:en-us+m3"]
    rows: list[Row] = []
    for voice in voices:
        rows += script_rows(voice, scripts, True, arctic[:1] if args.quick else arctic[:3])
    rows += real_rows()
    groups = summary(rows)
    captured = per_capture(rows)
    print(f"cpu: {cpu_model()}")
    lines_out = [
        [
            "set",
            "check",
            "n",
            "pocketsphinx",
            "+ Whisper",
            "score min-max",
            "Whisper ran",
            "its CPU s (med/max)",
        ]
    ]
    for g in groups:
        cpu = (
            f"{g['whisper_cpu_s_median']:.2f} / {g['whisper_cpu_s_max']:.2f}"
            if g["whisper_ran"]
            else "-"
        )
        lines_out.append(
            [
                str(g["group"]),
                str(g["check"]),
                str(g["n"]),
                f"{g['pocketsphinx_passed']} passed",
                f"{g['final_passed']} passed",
                f"{g['score_min']:.0%}-{g['score_max']:.0%}",
                str(g["whisper_ran"]),
                cpu,
            ]
        )
    print(table(lines_out, right={2, 5, 6, 7}))
    med, top = (
        captured["whisper_cpu_s_per_capture_median"],
        captured["whisper_cpu_s_per_capture_max"],
    )
    cost = f"{med:.2f} s median, {top:.2f} s max" if med is not None and top is not None else "-"
    print(
        f"synthetic bona fide captures: {captured['with_fallback']} of {captured['captures']} "
        f"needed Whisper; its CPU per such capture: {cost}"
    )
    accepted = [r for r in rows if r.group.startswith("attack") and r.final]
    for r in accepted:
        print(f"ATTACK ACCEPTED: {r.group} / {r.voice} / {r.check}: {r.heard}")
    if args.rows:
        for r in rows:
            print(f"{r.group} | {r.voice} | {r.check} | {r.first} -> {r.final} | {r.heard}")
    if args.json:
        data = {"groups": groups, "captures": captured, "rows": [r.__dict__ for r in rows]}
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 1 if accepted else 0


if __name__ == "__main__":
    sys.exit(main())
