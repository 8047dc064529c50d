"""Word embeddings: the family computes its own loss (negative sampling, GloVe's weighted least squares)."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import MeanMetric, MetricCollection

from nlpzoo.errors import ConfigError, UnsupportedTaskError
from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective
from nlpzoo.tasks.spec import TaskKind


class WordEmbeddingObjective(TaskObjective):
    """Logs the family's `loss`, and the mean over evaluation batches of every other 0-dim tensor
    the family returns (e.g. `wordsim353_spearman`), under the family's own name.
    """

    kind = TaskKind.WORD_EMBEDDING
    monitor = "loss"
    mode = "min"

    def loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        if "loss" not in outputs:
            raise ConfigError("word-embedding families compute their own loss: outputs['loss'] is missing")
        return outputs["loss"]

    def metrics(self) -> MetricCollection:
        return MetricCollection({}, compute_groups=False)

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        for name, value in outputs.items():
            if name == "loss" or not isinstance(value, torch.Tensor) or value.dim() != 0:
                continue
            if name not in metrics.keys(keep_base=True):
                metrics.add_metrics({name: MeanMetric().to(value.device)})
            metrics[name].update(value.detach().float())

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        raise UnsupportedTaskError(
            "word embeddings have no per-example predictions: export the vectors (word2vec format) instead"
        )
