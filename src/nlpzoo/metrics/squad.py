"""SQuAD exact match and F1 with the official script's answer normalization, and best-span decoding.

A long context is split into strided windows; each window proposes its best span, and an
example's answer is the best-scoring span over all its windows, which may arrive in different
batches (or on different processes), so the metric keeps one candidate per window and picks
per example at `compute`.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections import Counter
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and articles, collapse whitespace (SQuAD v1.1 `normalize_answer`)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold_answers: Sequence[str]) -> float:
    """1.0 when the normalized prediction equals any normalized gold answer."""
    return float(any(normalize_answer(prediction) == normalize_answer(gold) for gold in gold_answers))


def token_f1(prediction: str, gold_answers: Sequence[str]) -> float:
    """Best bag-of-tokens F1 against the gold answers (0 without a shared token, as in SQuAD v1.1)."""
    best = 0.0
    predicted = normalize_answer(prediction).split()
    for gold in gold_answers:
        gold_tokens = normalize_answer(gold).split()
        same = sum((Counter(predicted) & Counter(gold_tokens)).values())
        if same:
            precision, recall = same / len(predicted), same / len(gold_tokens)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def best_spans(
    start_logits: torch.Tensor, end_logits: torch.Tensor, context_mask: torch.Tensor, max_answer_length: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Highest start+end score with start <= end < start + max_answer_length, both in the context.

    start_logits, end_logits, context_mask: (batch, seq). Returns start, end (inclusive) token
    indices and the score, each (batch,); score is -inf for a window without context tokens.
    """
    width = min(max_answer_length, start_logits.shape[1])
    # Band of candidate ends per start: ends[b, i, k] is the end logit of token i + k (k < width).
    ends = F.pad(end_logits.float(), (0, width - 1), value=float("-inf")).unfold(1, width, 1)  # (B, T, W)
    end_in_context = F.pad(context_mask, (0, width - 1), value=False).unfold(1, width, 1)  # (B, T, W)
    scores = start_logits.float()[:, :, None] + ends
    valid = context_mask[:, :, None] & end_in_context
    scores = scores.masked_fill(~valid, float("-inf")).flatten(1)  # (B, T * W)
    best, index = scores.max(-1)
    start = index // width
    return start, start + index % width, best


def stable_example_key(example_id: object) -> int:
    """An int64 key for an example id (SQuAD ids are hex strings), the same on every process."""
    if isinstance(example_id, int):
        return example_id
    digest = hashlib.blake2b(str(example_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class SquadScore(Metric):
    """Exact match and F1 (in percent, as SQuAD reports them) of each example's best window.

    `update` takes one candidate per window: the example key, the span score, and the EM/F1 of
    that window's answer text against the example's gold answers.
    """

    full_state_update = False
    keys: list[torch.Tensor]  # states (add_state), declared for the type checker
    scores: list[torch.Tensor]
    exact: list[torch.Tensor]
    f1: list[torch.Tensor]

    def __init__(self) -> None:
        super().__init__()
        for name in ("keys", "scores", "exact", "f1"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, keys: torch.Tensor, scores: torch.Tensor, exact: torch.Tensor, f1: torch.Tensor) -> None:
        # each (windows,)
        self.keys.append(keys.to(self.device, torch.long))
        self.scores.append(scores.to(self.device, torch.float64))
        self.exact.append(exact.to(self.device, torch.float64))
        self.f1.append(f1.to(self.device, torch.float64))

    def compute(self) -> dict[str, torch.Tensor]:
        keys, scores = dim_zero_cat(self.keys), dim_zero_cat(self.scores)
        exact, f1 = dim_zero_cat(self.exact), dim_zero_cat(self.f1)
        # Best window per example: sort by score, then keep the last occurrence of each key.
        order = torch.argsort(scores, stable=True)
        keys, exact, f1 = keys[order], exact[order], f1[order]
        unique, inverse = torch.unique(keys, return_inverse=True)
        position = torch.arange(len(keys), device=keys.device)
        last = torch.full((len(unique),), -1, dtype=torch.long, device=keys.device)
        last = last.scatter_reduce(0, inverse, position, reduce="amax")
        return {"exact_match": 100.0 * exact[last].mean(), "f1": 100.0 * f1[last].mean()}
