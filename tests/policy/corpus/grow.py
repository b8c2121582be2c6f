"""Writes semantic_grown.jsonl: several thousand training prompts for the semantic layer.

    .venv/bin/python tests/policy/corpus/grow.py

Hand-written, in two kinds (issue 21: ~900 distinct prompts generalised poorly):
- ``free``: whole sentences, each its own prompt;
- ``templates``: sentences with slots ({person}, {ask}, ...), each filled from hand-written slot
  lists a fixed number of times. A template's fillings share one group id, so the grouped
  cross-validation in lpm_guard.policy.training never trains on a template it tests.
Many templates per category, and as many benign look-alikes (news, education, warnings, fiction,
fitness, cooking, history, safety training) written with the same words as the disallowed ones.
Each prompt is also written once inside a framing (a chat opener, a "for my video" request),
drawn from the same list for disallowed and benign prompts, so the framing itself says nothing.
Seeded; the output is stable. Rows: {"id", "text", "category", "expected", "evasion"}.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from grow_benign import BENIGN  # noqa: E402
from grow_disallowed import DISALLOWED  # noqa: E402

OUT = HERE / "semantic_grown.jsonl"
PER_TEMPLATE = 10
PER_BENIGN_TEMPLATE = 20  # the benign templates have more slot choices; more of them
FRAMES = [
    ("hey, ", ""),
    ("ok so ", " lol"),
    ("For my YouTube channel: ", ""),
    ("", " — make it sound natural"),
    ("Quick one. ", " Thanks!"),
    ("In the next clip, ", ""),
    ("Script for the avatar: ", ""),
    ("", ", keep it under 30 seconds"),
    ("My manager asked for this: ", ""),
    ("pls ", " asap"),
    ("For a livestream tonight, ", ""),
    ("Can you ", "?"),
    ("I need a video where you ", ""),
    ("", " (one take, no cuts)"),
    ("Next line: ", ""),
    ("For the TikTok: ", " #fyp"),
    ("Hi! ", " :)"),
    ("Record this: ", ""),
    ("New scene. ", ""),
    ("", ". Use a calm voice."),
]
SLOT = re.compile(r"\{([a-z_]+)\}")


def fill(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    return SLOT.sub(lambda m: rng.choice(slots[m.group(1)]), template)


def framed(text: str, rng: random.Random) -> str:
    prefix, suffix = rng.choice(FRAMES)
    # lower-case the first letter after an opening that runs into the sentence ("hey, ...")
    runs_on = prefix.endswith(" ") and not prefix.endswith(". ") and prefix[-2] not in ":!"
    body = text[0].lower() + text[1:] if runs_on else text
    return f"{prefix}{body.rstrip('.')}{suffix}"


def expand(
    label: str, expected: str, spec: dict[str, object], rng: random.Random, per_template: int
) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    prefix = f"g-{label}-{expected}"
    free = spec.get("free", [])
    assert isinstance(free, list)
    for i, text in enumerate(free):
        rows.append(_row(f"{prefix}-f{i:03d}", text, label, expected, "none"))
        rows.append(_row(f"{prefix}-f{i:03d}-framed", framed(text, rng), label, expected, "framed"))
    templates = spec.get("templates", [])
    slots = spec.get("slots", {})
    assert isinstance(templates, list) and isinstance(slots, dict)
    for t, template in enumerate(templates):
        seen: set[str] = set()
        for k in range(per_template * 4):
            if len(seen) >= per_template:
                break
            text = fill(template, slots, rng)
            if text in seen:
                continue
            seen.add(text)
            text = text[0].upper() + text[1:]
            if k % 3 == 2:
                text, evasion = framed(text, rng), "framed"
            else:
                evasion = "none"
            rows.append(_row(f"{prefix}-t{t:03d}-{len(seen):02d}", text, label, expected, evasion))
    return rows


def _row(row_id: str, text: str, category: str, expected: str, evasion: str) -> dict[str, str]:
    return {
        "id": row_id,
        "text": text,
        "category": category,
        "expected": expected,
        "evasion": evasion,
    }


def build() -> list[dict[str, str]]:
    rng = random.Random(21)
    rows: list[dict[str, str]] = []
    for category, spec in DISALLOWED.items():
        rows += expand(category, "deny", spec, rng, PER_TEMPLATE)
    for theme, spec in BENIGN.items():
        # benign rows carry the category they look like ("news" etc. file under benign)
        category = spec.get("looks_like", "benign")
        assert isinstance(category, str)
        grown = expand(category, "allow", spec, rng, PER_BENIGN_TEMPLATE)
        rows += [dict(r, id=r["id"].replace("g-", f"g-{theme}-", 1)) for r in grown]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate ids"
    return rows


def render(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


if __name__ == "__main__":
    OUT.write_text(render(build()), encoding="utf-8")
    print(f"{OUT}: {len(build())} rows")
