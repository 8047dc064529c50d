"""Sentence pairs: similarity regression (Pearson, Spearman) and natural language inference (accuracy)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.regression import PearsonCorrCoef, SpearmanCorrCoef

from nlpzoo.errors import ConfigError
from nlpzoo.tasks.classification import ClassificationObjective
from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective
from nlpzoo.tasks.spec import TaskKind, TaskSpec

SIMILARITY_LOSSES = ("mse", "cosine")


class SentenceSimilarityObjective(TaskObjective):
    """A score per pair against a gold similarity.

    `loss="mse"`: mean squared error between the family's `scores` and the labels
    (cross-encoders). `loss="cosine"`: Sentence-BERT's cosine-similarity loss, the squared error
    between cos(u, v) and the label rescaled to [0, 1] from `spec.score_range`
    (bi-encoders). Correlations ignore scale, so both report the same Pearson/Spearman.
    """

    kind = TaskKind.SENTENCE_SIMILARITY
    monitor = "spearman"
    mode = "max"

    def __init__(self, spec: TaskSpec, loss: str = "mse") -> None:
        super().__init__(spec)
        if loss not in SIMILARITY_LOSSES:
            raise ConfigError(f"objective.loss='{loss}' is not one of {SIMILARITY_LOSSES}")
        self.loss_kind = loss
        self.low, self.high = 0.0, 1.0
        if loss == "cosine":
            score_range = spec.score_range
            if not score_range or len(score_range) != 2 or score_range[0] >= score_range[1]:
                raise ConfigError(
                    "objective.loss=cosine rescales labels to [0, 1] and needs spec.score_range = "
                    f"[low, high] from the DataModule; got {score_range!r}"
                )
            self.low, self.high = float(score_range[0]), float(score_range[1])

    def scores(self, outputs: Outputs) -> torch.Tensor:
        """(batch,) the family's scores, or the cosine of its two sentence embeddings (batch, hidden)."""
        if "scores" in outputs:
            return outputs["scores"].float().reshape(-1)
        if "embeddings_a" in outputs and "embeddings_b" in outputs:
            return F.cosine_similarity(
                outputs["embeddings_a"].float(), outputs["embeddings_b"].float(), dim=-1
            )
        raise ConfigError(
            "sentence similarity needs outputs['scores'] or outputs['embeddings_a'/'embeddings_b']"
        )

    def task_loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        target = (batch["labels"].float() - self.low) / (self.high - self.low)
        return F.mse_loss(self.scores(outputs), target)

    def metrics(self) -> MetricCollection:
        return MetricCollection(
            {"pearson": PearsonCorrCoef(), "spearman": SpearmanCorrCoef()}, compute_groups=False
        )

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        metrics.update(self.scores(outputs).detach(), batch["labels"].float())

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        scale = self.high - self.low
        return [{"score": float(s) * scale + self.low} for s in self.scores(outputs).tolist()]


class NLIObjective(ClassificationObjective):
    """Entailment / neutral / contradiction (or 2-way): the same loss and metrics as classification."""

    kind = TaskKind.NLI
