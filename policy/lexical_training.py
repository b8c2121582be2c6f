"""Build step: the semantic layer's lexical classifier (see policy._internal.lexical), as data.

    python -m lpm_guard.policy.lexical_training OUT.npz CORPUS.jsonl [...] [--cv CV.npz]

The same rows, labels and one-vote-per-prompt weights as ``policy.training``; scikit-learn's
TfidfVectorizer over ``lexical.features`` of each row's plain reading (sublinear tf, n-grams in at
least two rows) and a multinomial logistic regression. The policy mixes its probabilities with
the embedding classifier's (``[semantic] lexical_weight``, the lexical share).

``--cv`` takes the unseen scores ``policy.training --cv-scores`` wrote (the tuned embedding
classifier's, per fold) and repeats its grouped 5-fold CV (the same folds) for the lexical model:
it prints, for the embedding classifier alone, the lexical one alone and their mixes, the recall
per category at a benign false-block rate of 2 % and 5 % (the threshold that reaches it), with
the nearness check applied as the policy does. Choose ``lexical_weight`` from it.

Deterministic (lbfgs; numpy's zip entries carry no time): built twice, the same sha256; 23
CPU seconds on this machine. The command that built the shipped file (one line, bash's braces):

    python -m lpm_guard.policy.lexical_training policy/data/lexical.npz
        tests/policy/corpus/{corpus,semantic,semantic_variety,semantic_grown}.jsonl
        tests/policy/corpus/redteam{,2,3,4,5,6,7,8,9}.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._internal.lexical import CHARS, features
from ._internal.normalise import plain_reading
from ._internal.semantic import BENIGN
from .training import _FILLING, _VARIANT, _weights, folds, load_rows, recall

# Inverse regularisation: grouped CV at 2 % false blocks, lexical alone (16 and 64 tried).
C = 16.0
MIN_DF = 2
MIXES = (0.3, 0.5)  # lexical shares printed by --cv


def fit(readings: Sequence[str], y: npt.NDArray[Any], weights: npt.NDArray[Any]) -> Any:
    """(vectoriser, model) fitted on the readings."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectoriser = TfidfVectorizer(analyzer=features, sublinear_tf=True, min_df=MIN_DF)
    x = vectoriser.fit_transform(readings)
    model = LogisticRegression(C=C, max_iter=5000).fit(x, y, sample_weight=weights)
    return vectoriser, model


def _disallowed(vectoriser: Any, model: Any, readings: Sequence[str]) -> npt.NDArray[np.float64]:
    probs = model.predict_proba(vectoriser.transform(readings))
    return 1.0 - probs[:, list(model.classes_).index(BENIGN)]  # type: ignore[no-any-return]


def _at_false_block(
    scores: npt.NDArray[np.float64], y: npt.NDArray[Any], weights: npt.NDArray[Any], rate: float
) -> str:
    """The lowest threshold that blocks at most ``rate`` of benign prompts, and the recall per
    category there (rates per prompt, as policy.training prints them)."""
    benign = y == BENIGN
    threshold = 1.0 + 1e-9
    for t in np.unique(scores[benign]):
        if np.average(scores[benign] >= t, weights=weights[benign]) <= rate:
            threshold = float(t)
            break
    blocked = scores >= threshold
    per_category = recall(blocked, y, weights)
    disallowed = ~benign
    return (
        f"threshold {threshold:.3f}: false block "
        f"{np.average(blocked[benign], weights=weights[benign]):.3f}, recall all "
        f"{np.average(blocked[disallowed], weights=weights[disallowed]):.3f} min "
        f"{min(per_category.values()):.2f} "
        + " ".join(f"{c}={r:.2f}" for c, r in per_category.items())
    )


def cross_validate(
    readings: Sequence[str],
    y: npt.NDArray[Any],
    prompts: npt.NDArray[Any],
    groups: npt.NDArray[Any],
    cv: Path,
    min_similarity: float,
) -> list[str]:
    """policy.training's folds (groups shuffled by seed 0, five parts), the lexical model fitted
    on each fold's training rows, mixed with the embedding classifier's unseen scores."""
    kept = np.load(cv)
    if not (kept["y"] == y).all() or not (kept["prompts"] == prompts).all():
        raise SystemExit(f"{cv}: its rows are not these corpus files' rows")
    weights = _weights(prompts)
    lexical = np.zeros(len(y))
    for test in folds(groups):
        train = np.flatnonzero(~test)
        vectoriser, model = fit([readings[int(i)] for i in train], y[train], weights[train])
        unseen = [readings[int(i)] for i in np.flatnonzero(test)]
        lexical[test] = _disallowed(vectoriser, model, unseen)
    near = kept["nearness"] >= min_similarity
    variants = {"embedding alone": kept["scores"], "lexical alone": lexical}
    variants |= {f"lexical share {m}": (1 - m) * kept["scores"] + m * lexical for m in MIXES}
    lines = []
    for rate in (0.02, 0.05):
        for name, scores in variants.items():
            scores = np.where(near, scores, 0.0)
            lines.append(f"{name}, at {rate:.0%}: {_at_false_block(scores, y, weights, rate)}")
    return lines


def file_bytes(vectoriser: Any, model: Any, meta: dict[str, Any]) -> bytes:
    """The fitted vectoriser and model as the policy reads them (lexical.Lexical): the
    vocabulary in column order, newline-joined UTF-8; idf; weights as float16."""
    vocabulary = sorted(vectoriser.vocabulary_, key=vectoriser.vocabulary_.get)
    if any("\n" in term for term in vocabulary):
        raise ValueError("a feature holds a newline: the file joins them with newlines")
    meta = {
        "features": f"words, word pairs, character {CHARS[0]}-{CHARS[1]}-grams of plain_reading",
        "tfidf": {"sublinear_tf": True, "min_df": MIN_DF, "norm": "l2", "smooth_idf": True},
        "C": C,
        "weights": "one per prompt",
        **meta,
    }
    arrays: dict[str, npt.NDArray[Any]] = {
        "vocabulary": np.frombuffer("\n".join(vocabulary).encode("utf-8"), dtype=np.uint8),
        "idf": vectoriser.idf_.astype(np.float32),
        "weights": model.coef_.astype(np.float16),
        "bias": model.intercept_.astype(np.float32),
        "classes": np.array([str(c) for c in model.classes_]),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("corpus", type=Path, nargs="+")
    parser.add_argument("--cv", type=Path, metavar="NPZ", help="policy.training's --cv-scores")
    parser.add_argument("--min-similarity", type=float, default=0.40, help="for the CV")
    args = parser.parse_args(argv)
    rows = load_rows(args.corpus)
    readings = [plain_reading(r["text"]) for r in rows]
    y = np.array([r["category"] if r["expected"] == "deny" else BENIGN for r in rows])
    prompts = np.array([_VARIANT.sub("", r["id"]) for r in rows])
    groups = np.array([_FILLING.sub(r"\1", p) for p in prompts])
    if args.cv is not None:
        for line in cross_validate(readings, y, prompts, groups, args.cv, args.min_similarity):
            print(line, flush=True)
    vectoriser, model = fit(readings, y, _weights(prompts))
    meta = {
        "corpus": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in args.corpus},
        "rows": len(rows),
    }
    data = file_bytes(vectoriser, model, meta)
    args.out.write_bytes(data)
    print(
        f"{args.out}: {len(vectoriser.vocabulary_)} features, {len(data)} bytes, sha256 "
        f"{hashlib.sha256(data).hexdigest()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
