"""ROUGE as Google's rouge-score computes it (F-measure, 0-1), accumulated over batches."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


class RougeScore(Metric):
    """Mean ROUGE-1/2/L/Lsum F-measure (rouge-score, Porter stemmer); Lsum splits sentences at newlines."""

    full_state_update = False
    sums: torch.Tensor  # states (add_state), declared for the type checker
    count: torch.Tensor

    def __init__(self, rouge_types: Sequence[str] = ROUGE_TYPES, use_stemmer: bool = True) -> None:
        super().__init__()
        from rouge_score.rouge_scorer import RougeScorer  # imported here: it loads nltk, seconds at start-up

        self.rouge_types = list(rouge_types)
        self.scorer = RougeScorer(self.rouge_types, use_stemmer=use_stemmer)
        self.add_state(
            "sums", default=torch.zeros(len(self.rouge_types), dtype=torch.float64), dist_reduce_fx="sum"
        )
        self.add_state("count", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, hypotheses: Sequence[str], references: Sequence[str]) -> None:
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
        sums = torch.zeros(len(self.rouge_types), dtype=torch.float64)
        for hypothesis, reference in zip(hypotheses, references, strict=True):
            scores = self.scorer.score(reference, hypothesis)  # (target, prediction)
            sums += torch.tensor([scores[name].fmeasure for name in self.rouge_types], dtype=torch.float64)
        self.sums += sums.to(self.device)
        self.count += len(hypotheses)

    def compute(self) -> dict[str, torch.Tensor]:
        means = self.sums / self.count.clamp(min=1)
        return {name: means[i] for i, name in enumerate(self.rouge_types)}
