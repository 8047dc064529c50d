"""GloVe (Pennington et al., 2014): word and context vectors fit by weighted least squares to the
log co-occurrence counts, f(X) (w_i . w~_j + b_i + b~_j - log X_ij)^2, with f(X) = min(1, (X/x_max)^alpha)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nlpzoo.models.word_vectors import ExportFormat, WordVectorModule
from nlpzoo.tasks import Batch, TaskSpec


class GloVe(WordVectorModule):
    """GloVe on the corpus's co-occurrence batches (data.batch_format=cooccurrence); the exported
    vectors are w + w~, as in the paper."""

    family = "glove"
    batch_format = "cooccurrence"

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        dim: int = 100,
        x_max: float = 100.0,
        alpha: float = 0.75,
        probe_words: list[str] | None = None,
        export_format: ExportFormat | None = "binary",
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, probe_words, export_format, optimizer, scheduler)
        self.save_family_hyperparameters(
            dim=dim, x_max=x_max, alpha=alpha, probe_words=self.probe_words, export_format=export_format
        )
        self.x_max, self.alpha = x_max, alpha
        vocab = self.spec.vocab_size
        self.word = nn.Embedding(vocab, dim, sparse=True)
        self.context = nn.Embedding(vocab, dim, sparse=True)
        self.word_bias = nn.Embedding(vocab, 1, sparse=True)
        self.context_bias = nn.Embedding(vocab, 1, sparse=True)
        for table in (self.word, self.context):
            nn.init.uniform_(table.weight, -0.5 / dim, 0.5 / dim)
        for table in (self.word_bias, self.context_bias):
            nn.init.zeros_(table.weight)

    def training_loss(self, batch: Batch) -> torch.Tensor:
        rows, cols, counts = batch["row_ids"], batch["col_ids"], batch["cooccurrence"]  # (B,)
        predicted = (self.word(rows) * self.context(cols)).sum(-1)  # (B,)
        predicted = predicted + self.word_bias(rows).squeeze(-1) + self.context_bias(cols).squeeze(-1)
        weight = (counts / self.x_max).pow(self.alpha).clamp(max=1.0)
        return 0.5 * (weight * (predicted - counts.log()).pow(2)).sum()

    def word_vectors(self) -> torch.Tensor:
        return self.word.weight + self.context.weight
