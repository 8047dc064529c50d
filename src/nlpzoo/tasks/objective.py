"""The shape every task objective has: loss, metrics, decoding — written once per task kind."""

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
