"""Corpus BLEU and chrF exactly as sacreBLEU computes them (0-100), and BLEU on lowercased tokens.

Summable statistics are kept as tensor states, so they accumulate over batches and sum across
processes before the corpus score is computed once, which is what "corpus BLEU" means (an
average of sentence BLEUs is not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import torch
from sacrebleu.metrics import BLEU, CHRF
from torchmetrics import Metric


class SacreBleuScore(Metric):
    """sacreBLEU's corpus BLEU (default: 13a tokenization, exponential smoothing) or chrF, one reference each.

    Uses sacreBLEU's own statistics extraction and scoring, so the value is the one
    `sacrebleu.corpus_bleu(hypotheses, [references])` (or `corpus_chrf`) prints.
    """

    full_state_update = False
    statistics: torch.Tensor  # states (add_state), declared for the type checker

    def __init__(self, metric: Literal["bleu", "chrf"] = "bleu") -> None:
        super().__init__()
        self.scorer = BLEU() if metric == "bleu" else CHRF()
        size = len(self.scorer._extract_corpus_statistics(["a"], [["a"]])[0])
        self.add_state("statistics", default=torch.zeros(size, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, hypotheses: Sequence[str], references: Sequence[str]) -> None:
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
        if not hypotheses:
            return
        statistics = self.scorer._extract_corpus_statistics(list(hypotheses), [list(references)])
        self.statistics += torch.tensor(statistics, dtype=torch.long, device=self.device).sum(0)

    def compute(self) -> torch.Tensor:
        score = self.scorer._compute_score_from_stats([int(x) for x in self.statistics.tolist()])
        return torch.tensor(score.score, dtype=torch.float64)


WORD_TOKENS = re.compile(r"\w+|[^\w\s]+")


def lowercased_tokens(text: str) -> str:
    """Lowercased words and punctuation runs, space-joined: "A man's hat." -> "a man ' s hat ."."""
    return " ".join(WORD_TOKENS.findall(text.lower()))


class TokenizedBleuScore(SacreBleuScore):
    """Corpus BLEU over lowercased word tokens, no smoothing: what torchtext's `bleu_score` gives on
    lowercased tokens (bentrevett/pytorch-seq2seq's number), so a recipe compares like for like."""

    def __init__(self) -> None:
        super().__init__("bleu")
        self.scorer = BLEU(tokenize="none", smooth_method="none")

    def update(self, hypotheses: Sequence[str], references: Sequence[str]) -> None:
        super().update([lowercased_tokens(h) for h in hypotheses], [lowercased_tokens(r) for r in references])
