"""Build step: fine-tune the top of all-MiniLM-L6-v2 for the policy's categories (LoRA).

Used by ``python -m lpm_guard.policy.training``; never at request time. The embedder's lower
``6 - LAYERS`` transformer layers stay frozen, so their output is computed once per prompt and
cached; the top LAYERS layers get low-rank adapters (peft's LoRA on every linear layer of the
block) trained jointly with a linear head on the mean-pooled, unit-length embedding the policy
reads, with cross-entropy weighted one vote per prompt (as the classifier's fit). Only the
adapters leave this module: ``adapter_deltas`` turns them into the weight changes
``embed.Embedder`` adds to the verified MiniLM weights before its int8 export. The head is a
training device only; the shipped classifier is refitted on the int8 model's embeddings.

torch runs it on the CPU (a few minutes for the whole corpus on two cores); peft is needed here
only (the dev extra), the policy merges the shipped factors with numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._internal import embed

# Adapted transformer layers, counted from the top. Four since issue 21's fifth round: grouped
# CV, at the same 5.0 % benign denied, recall 1-8 points higher per category than with two.
LAYERS = 4
RANK = 8
ALPHA = 16.0
EPOCHS = 3
BATCH = 32
LEARNING_RATE = 1e-3
SEED = 0
# peft's names for a BERT block's linear layers: q, k, v, the attention's output, and the
# feed-forward's two ("dense" matches attention.output.dense, intermediate.dense, output.dense).
TARGETS = ["query", "key", "value", "dense"]


def _torch() -> Any:
    import torch

    torch.manual_seed(SEED)
    # One thread: on a shared machine two threads ran a step about 3x slower, and one
    # thread's sums come out the same on every machine.
    torch.set_num_threads(1)
    return torch


def token_ids(texts: Sequence[str]) -> list[list[int]]:
    """Each text's first window of word pieces with [CLS] and [SEP], as the policy reads it."""
    model = embed.tokenizer()
    cls, sep = model.token_to_id("[CLS]"), model.token_to_id("[SEP]")
    size = embed.WINDOW_TOKENS - 2
    out = []
    for text in texts:
        ids: list[int] = model.encode(text, add_special_tokens=False).ids
        out.append([cls, *ids[:size], sep])
    return out


class Tuner:
    """MiniLM with its lower layers' outputs cached for a fixed list of prompts."""

    def __init__(self, texts: Sequence[str]) -> None:
        torch = _torch()
        self.bert = embed.bert_model()
        self.bert.config._attn_implementation = "eager"
        self.frozen = len(self.bert.encoder.layer) - LAYERS
        # Evasion variants often read the same once normalised: each reading is computed once.
        unique = list(dict.fromkeys(texts))
        position = {t: i for i, t in enumerate(unique)}
        self.index = np.array([position[t] for t in texts], dtype=np.int64)
        ids = token_ids(unique)
        self.lower: list[Any] = []
        with torch.no_grad():
            for start in range(0, len(ids), 64):
                batch, mask = self._pad(ids[start : start + 64])
                hidden = self.bert.embeddings(input_ids=batch)
                additive = self._additive(mask)
                for layer in self.bert.encoder.layer[: self.frozen]:
                    hidden = layer(hidden, additive)
                for row, length in zip(hidden, mask.sum(dim=1).tolist(), strict=True):
                    self.lower.append(row[: int(length)].clone())

    @staticmethod
    def _pad(rows: Sequence[Sequence[int]]) -> tuple[Any, Any]:
        import torch

        width = max(len(r) for r in rows)
        batch = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            batch[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        return batch, mask

    @staticmethod
    def _additive(mask: Any) -> Any:
        import torch

        return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min

    def _stack(self, indices: Sequence[int]) -> tuple[Any, Any]:
        import torch

        width = max(self.lower[i].shape[0] for i in indices)
        hidden = torch.zeros((len(indices), width, self.lower[0].shape[1]))
        mask = torch.zeros((len(indices), width))
        for j, i in enumerate(indices):
            n = self.lower[i].shape[0]
            hidden[j, :n] = self.lower[i]
            mask[j, :n] = 1.0
        return hidden, mask

    def _top(self, hidden: Any, mask: Any) -> Any:
        """The adapted layers, then the mean over the word pieces, at unit length."""
        import torch

        additive = self._additive(mask)
        for layer in self.bert.encoder.layer[self.frozen :]:
            hidden = layer(hidden, additive)
        mean = (hidden * mask[:, :, None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
        return torch.nn.functional.normalize(mean, dim=1)

    def fit(
        self, train: npt.NDArray[np.int64], labels: npt.NDArray[np.int64], weights: Any
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Fresh adapters trained on the rows ``train``; returns their factors (see
        ``adapter_deltas``) and leaves them in place for ``embed``."""
        torch = _torch()
        from peft import LoraConfig, inject_adapter_in_model

        self.bert = embed.bert_model()  # the published weights again: fresh adapters
        self.bert.config._attn_implementation = "eager"
        config = LoraConfig(
            r=RANK,
            lora_alpha=int(ALPHA),
            lora_dropout=0.1,
            target_modules=TARGETS,
            layers_to_transform=list(range(self.frozen, self.frozen + LAYERS)),
            layers_pattern="layer",
        )
        self.bert = inject_adapter_in_model(config, self.bert)
        for name, parameter in self.bert.named_parameters():
            parameter.requires_grad = "lora_" in name
        classes = int(labels.max()) + 1
        head = torch.nn.Linear(self.lower[0].shape[1], classes)
        scale = torch.nn.Parameter(torch.tensor(10.0))  # unit vectors need a temperature
        trainable = [p for p in self.bert.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(
            [
                {"params": trainable, "lr": LEARNING_RATE},
                {"params": [*head.parameters(), scale], "lr": 1e-2},
            ],
            weight_decay=0.01,
        )
        # one item per (reading, label), weighted by the rows it stands for
        votes: dict[tuple[int, int], float] = {}
        for i in train:
            key = (int(self.index[i]), int(labels[i]))
            votes[key] = votes.get(key, 0.0) + float(weights[i])
        items = list(votes)
        reading = np.array([u for u, _ in items])
        target = torch.tensor([c for _, c in items])
        vote = torch.tensor([votes[k] for k in items], dtype=torch.float32)
        length = np.array([self.lower[u].shape[0] for u in reading])
        generator = np.random.default_rng(SEED)
        self.bert.train(True)
        for _ in range(EPOCHS):
            # batches of similar length (less padding), in random order
            order = generator.permutation(len(items))
            batches = []
            for start in range(0, len(order), BATCH * 8):
                chunk = order[start : start + BATCH * 8]
                chunk = chunk[np.argsort(length[chunk], kind="stable")]
                batches += [chunk[i : i + BATCH] for i in range(0, len(chunk), BATCH)]
            for b in generator.permutation(len(batches)):
                chosen = batches[b]
                hidden, mask = self._stack(reading[chosen].tolist())
                logits = head(self._top(hidden, mask)) * scale
                loss = torch.nn.functional.cross_entropy(logits, target[chosen], reduction="none")
                loss = (loss * vote[chosen]).sum() / vote[chosen].sum()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        self.bert.train(False)
        return {
            name: parameter.detach().numpy().astype(np.float32)
            for name, parameter in self.bert.named_parameters()
            if "lora_" in name
        }

    def embed(self) -> npt.NDArray[np.float32]:
        """Unit embeddings of the prompts through the current top layers (float32), one row
        per text given to the constructor."""
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(self.lower), 128):
                hidden, mask = self._stack(list(range(start, min(start + 128, len(self.lower)))))
                out.append(self._top(hidden, mask).numpy())
        return np.concatenate(out).astype(np.float32)[self.index]


def shipped_factors(
    factors: dict[str, npt.NDArray[np.float32]],
) -> dict[str, npt.NDArray[np.float32]]:
    """peft's LoRA factors as the classifier file holds them: ``<weight>.A`` (r x in) and
    ``<weight>.B`` (out x r, times alpha / r), with ``<weight>`` MiniLM's name for the layer
    ("encoder.layer.5.attention.self.query"); rounded to float16, as stored, so that the
    classifier is fitted on the same weights the policy builds from the file."""
    out = {}
    for name, a in factors.items():
        if ".lora_A." not in name:
            continue
        b = factors[name.replace(".lora_A.", ".lora_B.")] * (ALPHA / RANK)
        key = name.split(".lora_A.")[0]
        out[f"{key}.A"] = a.astype(np.float16).astype(np.float32)
        out[f"{key}.B"] = b.astype(np.float16).astype(np.float32)
    return out
