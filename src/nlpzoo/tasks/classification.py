"""Sequence classification: cross-entropy; accuracy, micro/macro F1 and a confusion matrix; argmax with probabilities."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective
from nlpzoo.tasks.spec import TaskKind


class ClassificationObjective(TaskObjective):
    """Single-label classification of a text (or a text pair encoded jointly).

    The confusion matrix (rows: true label, columns: prediction) is not a scalar, so it is not
    logged; the module keeps it in `metric_tables` for plots.
    """

    kind = TaskKind.TEXT_CLASSIFICATION
    monitor = "acc"
    mode = "max"

    def task_loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(outputs["logits"].float(), batch["labels"])  # logits (batch, num_labels)

    def metrics(self) -> MetricCollection:
        num_classes = max(self.spec.num_labels, 2)
        return MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes=num_classes, average="micro"),
                "f1_micro": MulticlassF1Score(num_classes=num_classes, average="micro"),
                "f1_macro": MulticlassF1Score(num_classes=num_classes, average="macro"),
                "confusion_matrix": MulticlassConfusionMatrix(num_classes=num_classes),
            },
            compute_groups=False,
        )

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        metrics.update(outputs["logits"].float().argmax(-1), batch["labels"])

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        probabilities = outputs["logits"].float().softmax(-1)
        scores, label_ids = probabilities.max(-1)
        names = self.spec.label_names
        return [
            {"label": names[i] if i < len(names) else int(i), "score": float(s), "label_id": int(i)}
            for i, s in zip(label_ids.tolist(), scores.tolist(), strict=True)
        ]
