"""Knowledge distillation (Hinton et al., 2015): a student learns a teacher's soft labels and the gold labels.

loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * task loss.
The teacher's logits arrive as a batch key (`teacher_logits`, (batch, num_labels)), computed once
with the teacher's own tokenizer, so teacher and student may tokenize differently.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection

from nlpzoo.errors import ConfigError
from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective

TEACHER_KEY = "teacher_logits"


class DistillationObjective(TaskObjective):
    """Wraps a classification objective; batches without teacher logits (validation) get the task loss."""

    def __init__(self, base: TaskObjective, temperature: float, alpha: float) -> None:
        super().__init__(base.spec)
        if temperature <= 0:
            raise ConfigError(f"distillation.temperature={temperature} must be > 0")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"distillation.alpha={alpha} must be in [0, 1]")
        self.base, self.temperature, self.alpha = base, temperature, alpha
        # A wrapper takes its base's kind, monitor and mode per instance (class-level on every other objective).
        self.kind, self.monitor, self.mode = base.kind, base.monitor, base.mode  # type: ignore[misc]
        self.decode = base.decode

    def soft_loss(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """T^2-scaled KL between the temperature-softened distributions (both (batch, num_labels))."""
        t = self.temperature
        return F.kl_div(
            F.log_softmax(student.float() / t, -1),
            F.log_softmax(teacher.float() / t, -1),
            log_target=True,
            reduction="batchmean",
        ) * (t * t)

    def loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        hard = self.base.loss(outputs, batch)  # the family's own loss when it has one, as without a teacher
        if TEACHER_KEY not in batch:
            return hard
        return self.alpha * self.soft_loss(outputs["logits"], batch[TEACHER_KEY]) + (1 - self.alpha) * hard

    def metrics(self) -> MetricCollection:
        return self.base.metrics()

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        self.base.update_metrics(metrics, outputs, batch)

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        return self.base.predict(outputs, batch)

    def finalize_predictions(self, predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.base.finalize_predictions(predictions)
