"""The semantic layer: a linear classifier over MiniLM sentence embeddings.

The classifier is data (``policy/data/semantic.npz``): one weight row and bias per class (the
text categories and ``benign``), trained by ``python -m lpm_guard.policy.training`` on the
red-team corpus's tuning split and red teams 1-9. The policy file pins the classifier's
sha256, so the policy hash every decision records covers it too.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..models import Category
from .embed import Adapter, Embedder, SemanticModelError, check_pinned, embedder
from .lexical import Lexical
from .normalise import plain_reading

BENIGN = "benign"
ADAPTER = "adapter."  # the npz arrays of the encoder's adapter start so (see policy.tuning)
# MiniLM-L6-H384's linear layers an adapter may change (config.json: 6 layers, 384 wide, 1536
# in the feed-forward), as (out, in); checked when the file loads, before any model is built.
_LAYER = re.compile(r"^encoder\.layer\.[0-5]\.")
_WEIGHT_SHAPES = {
    "encoder.N.attention.self.query": (384, 384),
    "encoder.N.attention.self.key": (384, 384),
    "encoder.N.attention.self.value": (384, 384),
    "encoder.N.attention.output.dense": (384, 384),
    "encoder.N.intermediate.dense": (1536, 384),
    "encoder.N.output.dense": (384, 1536),
}


def adapter_deltas(
    factors: dict[str, npt.NDArray[np.float32]],
) -> dict[str, npt.NDArray[np.float32]]:
    """The adapter's low-rank factors (``<layer>.A``, ``<layer>.B``) as changes to MiniLM's
    weights: ``<layer>.weight`` += B @ A (LoRA's merge; B carries alpha / r)."""
    deltas = {}
    for name, a in factors.items():
        if name.endswith(".A"):
            key = name[:-2]
            b = factors.get(f"{key}.B")
            if b is None or b.ndim != 2 or a.ndim != 2 or b.shape[1] != a.shape[0]:
                raise SemanticModelError(f"adapter: {key}'s factors do not fit together")
            if _WEIGHT_SHAPES.get(_LAYER.sub("encoder.N.", key)) != (b.shape[0], a.shape[1]):
                raise SemanticModelError(f"adapter: {key} {b.shape[0], a.shape[1]} is no weight")
            deltas[f"{key}.weight"] = (b @ a).astype(np.float32)
    return deltas


@dataclass(frozen=True)
class Score:
    """The likeliest disallowed category for a text, and the classifier's probability that the
    text is disallowed (all disallowed categories together)."""

    category: Category
    score: float
    # Cosine to the nearest disallowed training prompt: 1.0 for a file without exemplars, None
    # where the score was below ``Classifier.near_from`` (not computed: it is the slow part).
    similarity: float | None = 1.0
    # Cosine to the nearest benign training prompt; None where not computed (a file without
    # benign exemplars, or a score below ``Classifier.margin_from``).
    benign_similarity: float | None = None
    # The lexical classifier's own probability that the text is disallowed, where the file has
    # one (``score`` is then its mix with the embedding classifier's); for the decision's record.
    lexical: float | None = None


class Classifier:
    """Softmax over ``classes`` from an embedding; built from the npz file's bytes."""

    def __init__(self, data: bytes, sha256: str, source: str) -> None:
        check_pinned(data, sha256, source)
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                self.weights: npt.NDArray[np.float32] = arrays["weights"].astype(np.float32)
                self.bias: npt.NDArray[np.float32] = arrays["bias"].astype(np.float32)
                classes = [str(c) for c in arrays["classes"]]
                exemplars = arrays["exemplars"] if "exemplars" in arrays.files else None
                benign = arrays["benign_exemplars"] if "benign_exemplars" in arrays.files else None
                factors = {
                    name[len(ADAPTER) :]: arrays[name].astype(np.float32)
                    for name in arrays.files
                    if name.startswith(ADAPTER)
                }
                self.meta = json.loads(str(arrays["meta"]))
        except (OSError, ValueError, KeyError) as exc:
            raise SemanticModelError(f"{source}: not a classifier file: {exc}") from None
        if self.weights.shape != (len(classes), 384) or self.bias.shape != (len(classes),):
            raise SemanticModelError(f"{source}: weights do not fit {len(classes)} classes")
        if exemplars is not None and (exemplars.ndim != 2 or exemplars.shape[1] != 384):
            raise SemanticModelError(f"{source}: exemplars are not 384-wide vectors")
        if benign is not None and (benign.ndim != 2 or benign.shape[1] != 384):
            raise SemanticModelError(f"{source}: benign exemplars are not 384-wide vectors")
        # The disallowed training prompts' embeddings (float16), for the nearness check.
        self.exemplars: npt.NDArray[np.float32] | None = (
            None if exemplars is None else np.ascontiguousarray(exemplars.astype(np.float32).T)
        )
        # Nearness is computed only for a score at least this (the policy sets its min_score):
        # the product with every exemplar costs more than the rest of the layer (OpenBLAS
        # threads it; 1-2 ms of wall time on a loaded machine) and is needed only then.
        self.near_from = 0.0
        # The benign training prompts' embeddings, for the margin check; the nearest of them is
        # computed only for a score at least ``margin_from`` (the policy sets it: its min_score,
        # or its review_score where the file has a review_margin).
        self.benign_exemplars: npt.NDArray[np.float32] | None = (
            None if benign is None else np.ascontiguousarray(benign.astype(np.float32).T)
        )
        self.margin_from = float("inf")
        try:
            self.categories = [None if c == BENIGN else Category(c) for c in classes]
        except ValueError as exc:
            raise SemanticModelError(f"{source}: {exc}") from None
        self.sha256 = sha256
        # The encoder's fine-tuned layers (merged into MiniLM's verified weights at load).
        self.adapter = Adapter(sha256, adapter_deltas(factors)) if factors else None
        # The n-gram classifier mixed in (``use_lexical``), and its share of the probabilities.
        self.lexical: Lexical | None = None
        self.lexical_weight = 0.0
        self.classes = classes

    def use_lexical(self, lexical: Lexical, weight: float) -> None:
        """Mix ``lexical``'s probabilities into every window's, ``weight`` of them."""
        if lexical.classes != self.classes:
            raise SemanticModelError(
                f"lexical classes {lexical.classes} are not the classifier's {self.classes}"
            )
        self.lexical = lexical
        self.lexical_weight = weight

    def probabilities(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        logits = vectors @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def score(self, text: str, model: Embedder | None = None) -> Score | None:
        """Over the text's windows, the likeliest disallowed category and the probability that
        the window is disallowed at all (1 - P(benign)); None for an empty text.

        The sum, not the top category's own probability: a request that reads as both violence
        and hate is split between them and would pass under either alone (grouped CV: recall
        at equal false blocks rose 0.5-1 point; red teams 1 and 2 rose 2-6 points)."""
        reading = plain_reading(text)
        if not reading:
            return None
        vectors = (model or embedder(self.adapter)).embed(reading)
        probs = self.probabilities(vectors)
        disallowed = [i for i, c in enumerate(self.categories) if c is not None]
        lexical = None
        if self.lexical is not None:
            # the whole reading's n-grams, mixed into each window's embedding probabilities
            words = self.lexical.probabilities(reading)
            lexical = float(words[disallowed].sum())
            probs = (1.0 - self.lexical_weight) * probs + self.lexical_weight * words
        best: tuple[int, Category, float] | None = None
        for window, row in enumerate(probs):
            top = max(disallowed, key=lambda i: row[i])
            category = self.categories[top]
            assert category is not None
            total = float(sum(row[i] for i in disallowed))
            if best is None or total > best[2]:
                best = (window, category, total)
        assert best is not None
        window, category, total = best
        if self.exemplars is None:
            return Score(category, total, lexical=lexical)
        if total < self.near_from:
            return Score(category, total, None, lexical=lexical)
        similarity = float((vectors[window] @ self.exemplars).max())
        benign = None
        if self.benign_exemplars is not None and total >= self.margin_from:
            benign = float((vectors[window] @ self.benign_exemplars).max())
        return Score(category, total, similarity, benign, lexical)
