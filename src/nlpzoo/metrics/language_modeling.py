"""Perplexity, bits per character and token accuracy over a whole split (token-weighted, not batch-averaged)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchmetrics import Metric

from nlpzoo.tasks.spec import IGNORE_INDEX


def token_statistics(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> tuple[torch.Tensor, ...]:
    """Summed negative log-likelihood (nats), correct argmax count and scored-token count.

    logits: (batch, seq, vocab) aligned with labels: (batch, seq); positions with ignore_index are skipped.
    """
    flat_logits = logits.reshape(-1, logits.shape[-1]).float()
    flat_labels = labels.reshape(-1)
    nll = F.cross_entropy(flat_logits, flat_labels, ignore_index=ignore_index, reduction="sum")
    scored = flat_labels != ignore_index
    correct = (flat_logits.argmax(-1) == flat_labels) & scored
    return nll.detach(), correct.sum(), scored.sum()


class LanguageModelScore(Metric):
    """exp(mean NLL) over all scored tokens; bits per character when each token is one character."""

    full_state_update = False
    nll: torch.Tensor  # states (add_state), declared for the type checker
    correct: torch.Tensor
    tokens: torch.Tensor

    def __init__(self, char_level: bool = False) -> None:
        super().__init__()
        self.char_level = char_level
        self.add_state("nll", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("correct", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("tokens", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, nll: torch.Tensor, correct: torch.Tensor, tokens: torch.Tensor) -> None:
        # all 0-dim: summed NLL in nats, correct predictions, scored tokens
        self.nll += nll.to(self.nll)
        self.correct += correct.to(self.correct)
        self.tokens += tokens.to(self.tokens)

    def compute(self) -> dict[str, torch.Tensor]:
        tokens = self.tokens.clamp(min=1)
        mean_nll = self.nll / tokens
        results = {"ppl": mean_nll.exp(), "accuracy": self.correct / tokens}
        if self.char_level:
            results["bpc"] = mean_nll / math.log(2)
        return results
