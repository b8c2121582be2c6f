"""The semantic layer's lexical half: word and character n-grams of the plain reading, TF-IDF
weighted, and a linear classifier over them (the same classes as the embedding classifier).

The file (``policy/data/lexical.npz``) is built by ``python -m lpm_guard.policy.lexical_training``
and pinned by its sha256 in the policy file's ``[semantic]`` section. Why a second model beside
MiniLM's: the embedding reads a prompt's gist, the n-grams its exact words and their pieces (a
name, "wire", "wallet", a slur's stem); in grouped CV their mix (``[semantic] lexical_weight``
of the n-grams') recalled more at the same false blocks than either alone (see
policy.lexical_training). It costs about 0.2 ms a prompt: a dictionary look-up per n-gram, no
library beyond numpy at request time.
"""

from __future__ import annotations

import io
import itertools
import json
from collections import Counter

import numpy as np
import numpy.typing as npt

from .embed import SemanticModelError, check_pinned

# Character n-grams of each word, padded with a space on each side (scikit-learn's "char_wb").
CHARS = (3, 5)
# A word feature's prefix: no character n-gram holds ":" (a reading's words are letters and
# digits only), so the two kinds never collide.
WORD = "w:"


def features(reading: str) -> list[str]:
    """The n-grams of a plain reading (``normalise.plain_reading``): its words, its pairs of
    neighbouring words, and each word's character 3- to 5-grams. The build fits the vectoriser
    with this function, so build and policy read text the same way."""
    words = reading.split()
    out = [WORD + w for w in words]
    out += [f"{WORD}{a} {b}" for a, b in itertools.pairwise(words)]
    for word in words:
        padded = f" {word} "
        for n in range(CHARS[0], CHARS[1] + 1):
            out += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return out


class Lexical:
    """Softmax over ``classes`` from the TF-IDF vector of a reading; built from the file's bytes."""

    def __init__(self, data: bytes, sha256: str, source: str) -> None:
        check_pinned(data, sha256, source)
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                vocabulary = bytes(arrays["vocabulary"]).decode("utf-8").split("\n")
                self.idf: npt.NDArray[np.float32] = arrays["idf"].astype(np.float32)
                # (features, classes): a reading's rows are gathered, not a full product
                self.weights: npt.NDArray[np.float32] = np.ascontiguousarray(
                    arrays["weights"].astype(np.float32).T
                )
                self.bias: npt.NDArray[np.float32] = arrays["bias"].astype(np.float32)
                self.classes = [str(c) for c in arrays["classes"]]
                self.meta = json.loads(str(arrays["meta"]))
        except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
            raise SemanticModelError(f"{source}: not a lexical classifier file: {exc}") from None
        n = len(vocabulary)
        if self.idf.shape != (n,) or self.weights.shape != (n, len(self.classes)):
            raise SemanticModelError(f"{source}: weights do not fit {n} features")
        if self.bias.shape != (len(self.classes),):
            raise SemanticModelError(f"{source}: bias does not fit {len(self.classes)} classes")
        self.index = {term: i for i, term in enumerate(vocabulary)}
        self.sha256 = sha256

    def probabilities(self, reading: str) -> npt.NDArray[np.float32]:
        """P(class) for a plain reading: sublinear term frequency times idf, at unit length (as
        scikit-learn's TfidfVectorizer(sublinear_tf=True)), through the linear layer."""
        counts = Counter(i for i in map(self.index.get, features(reading)) if i is not None)
        logits = self.bias.copy()
        if counts:
            rows = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
            values = tf * self.idf[rows]
            values /= np.linalg.norm(values)
            logits += values @ self.weights[rows]
        logits -= logits.max()
        exp = np.exp(logits)
        return exp / exp.sum()  # type: ignore[no-any-return]
