"""Build step: train the semantic layer's classifier on the red-team corpus and write it as data.

    python -m lpm_guard.policy.training OUT.npz CORPUS.jsonl [CORPUS.jsonl ...]

Each corpus row is {"text", "category", "expected": "deny"|"allow", "id"}; a disallowed row is
labelled with its category, a benign one ``benign``. The classifier is scikit-learn's multinomial
logistic regression on the rows' MiniLM embeddings (the same reading and model the policy uses),
each prompt weighted once however many evasion variants of it the corpus holds. The policy's
score is the probability of any disallowed category (1 - P(benign)). Before the final fit, a
five-fold cross-validation grouped by prompt (a prompt's evasion variants, and a template's
fillings in semantic_grown.jsonl, stay in one fold) prints, for a few thresholds, the share of
unseen benign prompts the layer alone would block and its recall per category: choose the
policy file's ``min_score`` from it. Prints the file's sha256
for the policy file's [semantic] section.

Before all that, MiniLM's top four layers are fine-tuned on the same rows (LoRA, see
policy.tuning; ``--no-tune`` keeps the published model): each CV fold fine-tunes its own
adapters on its training rows, and the shipped classifier is fitted on the int8 model the
policy builds from the adapters written into the same file. One thread, fixed seeds: the
shipped file rebuilt byte for byte (``--no-cv``, 4.5-8 minutes on a shared 2-core machine, 6 CPU
minutes since red teams 1-9 joined; with the CV 20-40 more, four layers). The command that
built it (one line, bash's braces):

    python -m lpm_guard.policy.training policy/data/semantic.npz --min-similarity 0.40
        tests/policy/corpus/{corpus,semantic,semantic_variety,semantic_grown}.jsonl
        tests/policy/corpus/redteam{,2,3,4,5,6,7,8,9}.jsonl

Red teams 1-9 (each written by another agent; one row a prompt, its own CV group) joined in
issue 21's round after red team 10, which stays out of training: held out, never read.

The file also keeps one embedding per disallowed prompt (the policy's nearness check,
``min_similarity``) and one per benign prompt (its margin check, ``min_margin``).

The CV also prints, for a few lower edges, the benign prompts a band held for a reviewer
(``[semantic] review_score``) would hold and the recall of denied + held; ``--cv-scores``
keeps every row's unseen score and nearness to study other thresholds without training again.

scikit-learn and peft are needed here only; the policy reads the file with numpy (and merges
the adapters with numpy and torch before its int8 export).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._internal.embed import Adapter, embedder
from ._internal.normalise import plain_reading
from ._internal.semantic import ADAPTER, BENIGN, adapter_deltas
from .tuning import ALPHA, EPOCHS, LAYERS, RANK, SEED, Tuner, shipped_factors

_VARIANT = re.compile(r"-[a-z_]+$")
# semantic_grown.jsonl fills each template several times: "g-...-t003-07" is template "g-...-t003".
_FILLING = re.compile(r"(-t\d{3})-\d{2}$")
# Inverse regularisation: best recall at 2 % false blocks in grouped CV (1, 4, 16, 64 tried, with
# semantic_variety.jsonl in the corpus: 16).
C = 16.0
THRESHOLDS = (0.8, 0.85, 0.9, 0.92, 0.94, 0.96)
# Lower edges of the band held for a reviewer (``[semantic] review_score``), printed as well.
REVIEW_EDGES = (0.3, 0.4, 0.5, 0.6, 0.7)


def load_rows(paths: Sequence[Path]) -> list[dict[str, str]]:
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def _weights(groups: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """One prompt, one vote: a prompt's evasion variants share its weight (corpus.jsonl has up
    to a dozen per prompt; the hand-written sets one), scaled to a mean of 1."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[inverse]
    return weights * (len(weights) / weights.sum())  # type: ignore[no-any-return]


def _fit(x: npt.NDArray[np.float32], y: npt.NDArray[Any], prompts: npt.NDArray[Any]) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=5000)
    return model.fit(x, y, sample_weight=_weights(prompts))


def folds(groups: npt.NDArray[Any]) -> list[npt.NDArray[np.bool_]]:
    """The grouped 5-fold CV's test masks: groups shuffled by seed 0, split in five parts (a
    prompt's variants, and a template's fillings, stay in one fold). lexical_training repeats
    this CV on the same folds."""
    unique = np.unique(groups)
    np.random.default_rng(0).shuffle(unique)
    return [np.isin(groups, fold) for fold in np.array_split(unique, 5)]


def recall(
    blocked: npt.NDArray[np.bool_], y: npt.NDArray[Any], weights: npt.NDArray[Any]
) -> dict[str, float]:
    """Per disallowed category, the share of its prompts ``blocked`` (weighted per prompt)."""
    return {
        c: float(np.average(blocked[y == c], weights=weights[y == c]))
        for c in sorted(set(y) - {BENIGN})
    }


def _disallowed(model: Any, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """As the policy scores: the probability of any disallowed category, 1 - P(benign)."""
    probs = model.predict_proba(x)
    benign = list(model.classes_).index(BENIGN)
    return 1.0 - probs[:, benign]  # type: ignore[no-any-return]


def cross_validate(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[Any],
    prompts: npt.NDArray[Any],
    groups: npt.NDArray[Any],
    min_similarity: float = 0.0,
    tuner: Tuner | None = None,
    keep: Path | None = None,
) -> list[str]:
    """Grouped 5-fold CV: a prompt's variants, and a template's fillings, stay in one fold.
    With a tuner, each fold's adapters are trained on the fold's training rows only, and the
    classifier fitted on their (float32) embeddings. ``keep``: also write each row's unseen
    score and nearness there (npz), to study thresholds without training again."""
    scores = np.zeros(len(y))
    nearness = np.zeros(len(y))
    for test in folds(groups):
        if tuner is not None:
            tuner.fit(np.flatnonzero(~test), _labels(y), _weights(prompts))
            x = tuner.embed()
        scores[test] = _disallowed(_fit(x[~test], y[~test], prompts[~test]), x[test])
        # the nearness check against the fold's own disallowed training prompts
        nearness[test] = (x[test] @ x[~test & (y != BENIGN)].T).max(axis=1)
    if keep is not None:
        np.savez(keep, scores=scores, nearness=nearness, y=y, prompts=prompts, groups=groups)
    scores = np.where(nearness >= min_similarity, scores, 0.0)
    lines = []
    benign = y == BENIGN
    weights = _weights(prompts)  # rates per prompt, its variants sharing one vote
    for threshold in THRESHOLDS:
        blocked = scores >= threshold
        false_block = np.average(blocked[benign], weights=weights[benign])
        lines.append(
            f"min_score {threshold:.2f}: false block {false_block:.3f}, recall "
            + " ".join(f"{c}={r:.2f}" for c, r in recall(blocked, y, weights).items())
        )
    top = THRESHOLDS[2]
    for edge in REVIEW_EDGES:
        held = (scores >= edge) & (scores < top)
        lines.append(
            f"held for review in [{edge:.2f}, {top:.2f}): benign "
            f"{np.average(held[benign], weights=weights[benign]):.3f}, recall denied + held "
            + " ".join(f"{c}={r:.2f}" for c, r in recall(scores >= edge, y, weights).items())
        )
    return lines


def _labels(y: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    classes = sorted(set(y.tolist()))
    return np.array([classes.index(c) for c in y], dtype=np.int64)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("corpus", type=Path, nargs="+")
    parser.add_argument(
        "--min-similarity", type=float, default=0.0, help="the policy's nearness check, for the CV"
    )
    parser.add_argument(
        "--no-tune", action="store_true", help="the published MiniLM as it is (no adapters)"
    )
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validation")
    parser.add_argument(
        "--cv-scores", type=Path, metavar="NPZ", help="write the CV's unseen scores there"
    )
    args = parser.parse_args(argv)
    rows = load_rows(args.corpus)
    readings = [plain_reading(r["text"]) for r in rows]
    y = np.array([r["category"] if r["expected"] == "deny" else BENIGN for r in rows])
    prompts = np.array([_VARIANT.sub("", r["id"]) for r in rows])  # "...-07-leet" -> "...-07"
    groups = np.array([_FILLING.sub(r"\1", p) for p in prompts])
    tuner = None if args.no_tune else Tuner(readings)
    adapter = None
    if tuner is None:
        x = np.stack([embedder().embed(t)[0] for t in readings]).astype(np.float32)
    else:
        x = tuner.embed()
    if not args.no_cv:
        lines = cross_validate(x, y, prompts, groups, args.min_similarity, tuner, args.cv_scores)
        for line in lines:
            print(line, flush=True)
    factors: dict[str, npt.NDArray[np.float32]] = {}
    if tuner is not None:
        factors = shipped_factors(tuner.fit(np.arange(len(y)), _labels(y), _weights(prompts)))
        blob = b"".join(factors[k].tobytes() for k in sorted(factors))
        adapter = Adapter(hashlib.sha256(blob).hexdigest(), adapter_deltas(factors))
    # the classifier is fitted on what the policy computes: the int8 model, adapters merged
    model = embedder(adapter)
    x = np.stack([model.embed(t)[0] for t in readings]).astype(np.float32)
    fitted = _fit(x, y, prompts)
    meta = {
        "embedder": model.name,
        "reading": "normalise.plain_reading",
        "C": C,
        "weights": "one per prompt",
        "score": "1 - P(benign)",
        "corpus": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in args.corpus},
        "rows": len(rows),
    }
    if tuner is not None:
        meta["adapter"] = {
            "layers": LAYERS,
            "rank": RANK,
            "alpha": ALPHA,
            "epochs": EPOCHS,
            "seed": SEED,
        }
    # One embedding per disallowed prompt (its evasion variants left out), for the policy's
    # nearness check (min_similarity), and one per benign prompt, for its margin check
    # (min_margin); float16 keeps the file small.
    _, first = np.unique(prompts, return_index=True)
    keep = np.array(sorted(i for i in first if y[i] != BENIGN))
    keep_benign = np.array(sorted(i for i in first if y[i] == BENIGN))
    arrays: dict[str, npt.NDArray[Any]] = {
        "exemplars": x[keep].astype(np.float16),
        "benign_exemplars": x[keep_benign].astype(np.float16),
        "weights": fitted.coef_.astype(np.float32),
        "bias": fitted.intercept_.astype(np.float32),
        "classes": np.array([str(c) for c in fitted.classes_]),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
    # the encoder's adapters (ADAPTER + weight name + .A/.B), float16 as they were rounded
    arrays.update({f"{ADAPTER}{k}": v.astype(np.float16) for k, v in factors.items()})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    data = buffer.getvalue()
    args.out.write_bytes(data)
    print(f"{args.out}: sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
