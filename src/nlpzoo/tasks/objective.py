"""The shape every task objective has: loss, metrics, decoding — written once per task kind.

The contract between families and objectives (batch keys are Hugging Face's names):

| task kind                | batch keys (besides input_ids, attention_mask)         | family outputs                         |
|--------------------------|--------------------------------------------------------|----------------------------------------|
| text_classification, nli | labels (B,)                                            | logits (B, C)                          |
| token_classification     | labels (B, T), -100 where no label                     | logits (B, T, C); or predictions (B, T) with loss (CRF) |
| extractive_qa            | start_positions, end_positions (B,); offset_mapping, example_id, context kept for decoding | start_logits, end_logits (B, T) |
| seq2seq                  | decoder_input_ids, labels (B, S), -100 on padding      | logits (B, S, V); generated_ids (B, S') in eval |
| language_modeling        | labels (B, T) = input_ids, -100 on padding; the objective shifts | logits (B, T, V)           |
| masked_language_modeling | labels (B, T), -100 except at masked positions         | logits (B, T, V)                       |
| sentence_similarity      | labels (B,) float; bi-encoders: input_ids_b, attention_mask_b | scores (B,)                     |
| word_embedding           | family-specific (center, context, negatives)           | loss                                   |

Whenever a family's outputs carry `loss` (a CRF's negative log-likelihood, a Hugging Face
model's own loss), objectives use it instead of computing one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torchmetrics import MetricCollection

from nlpzoo.tasks.spec import TaskKind, TaskSpec

Batch = dict[str, torch.Tensor]
Outputs = dict[str, torch.Tensor]


class TaskObjective:
    """Loss, metrics and prediction decoding for one task kind, shared by every model family.

    A family's `forward(batch)` returns a dict of tensors (`logits`, ...); the objective turns
    that dict and the batch into a loss, metric updates and user-facing predictions.
    """

    kind: ClassVar[TaskKind]
    monitor: ClassVar[str]  # metric name (without the split prefix) that picks the best checkpoint
    mode: ClassVar[str] = "max"

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    def loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def metrics(self) -> MetricCollection:
        """Fresh metric objects; the module clones them per split."""
        raise NotImplementedError

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        raise NotImplementedError

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        """One JSON-serialisable dict per example."""
        raise NotImplementedError
