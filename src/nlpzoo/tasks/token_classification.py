"""Token classification (NER, chunking): per-token cross-entropy or the family's CRF; seqeval-strict span F1."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from nlpzoo.errors import ConfigError
from nlpzoo.metrics.spans import SpanF1
from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective
from nlpzoo.tasks.spec import IGNORE_INDEX, TaskKind, TaskSpec
from nlpzoo.tasks.tagging import infer_scheme, scheme_name, tags_to_spans


def tagged_positions(batch: Batch) -> torch.Tensor:
    """(B, T) bool, the positions that carry a tag (words): the labelled ones; without labels each
    word's first subword (`first_subword_mask`, prediction input), else every real token."""
    if batch.get("labels") is not None:
        return batch["labels"] != IGNORE_INDEX
    if batch.get("first_subword_mask") is not None:
        return batch["first_subword_mask"].bool()
    return batch["attention_mask"].bool()


class TokenClassificationObjective(TaskObjective):
    """Tags per token; entities are read from the tags at labelled positions (first subwords).

    `scheme` defaults to the DataModule's `spec.tag_scheme`, else is inferred from the
    label names (IOBES when E-/S- tags exist, else IOB2).
    """

    kind = TaskKind.TOKEN_CLASSIFICATION
    monitor = "f1"
    mode = "max"

    def __init__(self, spec: TaskSpec, scheme: str | None = None) -> None:
        super().__init__(spec)
        if not spec.label_names:
            raise ConfigError("token classification needs tag names in the TaskSpec (label_names)")
        self.scheme = scheme_name(
            scheme or spec.tag_scheme or infer_scheme(spec.label_names), "objective.scheme"
        )

    def task_loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        logits = outputs["logits"].float()  # (B, T, num_tags)
        return F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE_INDEX)

    def tag_ids(self, outputs: Outputs) -> torch.Tensor:
        """(batch, seq) predicted tag ids: the family's decoding (CRF Viterbi) when given, else argmax."""
        if "predictions" in outputs:
            return outputs["predictions"]
        return outputs["logits"].argmax(-1)

    def metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "spans": SpanF1(self.spec.label_names, self.scheme),
                "token_acc": MulticlassAccuracy(
                    num_classes=max(self.spec.num_labels, 2), average="micro", ignore_index=IGNORE_INDEX
                ),
            },
            compute_groups=False,
        )

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        metrics.update(self.tag_ids(outputs), batch["labels"])

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        """Tags and entities over the word positions: labelled ones, else `first_subword_mask` (B, T),
        else every real token. Entity text comes from the list key `words` when given, else decoding."""
        tag_ids = self.tag_ids(outputs).tolist()
        keep = tagged_positions(batch).tolist()
        names = self.spec.label_names
        predictions = []
        for row, (ids, row_keep) in enumerate(zip(tag_ids, keep, strict=True)):
            positions = [t for t, k in enumerate(row_keep) if k]
            tags = [names[ids[t]] for t in positions]
            prediction: dict[str, Any] = {"tags": tags}
            if "words" in batch:
                prediction["tokens"] = list(batch["words"][row])[: len(positions)]
            elif self.decode is not None:
                token_ids = batch["input_ids"][row].tolist()
                prediction["tokens"] = self.decode([[token_ids[t]] for t in positions])
            entities = tags_to_spans(tags, self.scheme)
            prediction["entities"] = [
                {"type": kind, "start": start, "end": end, **self._entity_text(prediction, start, end)}
                for kind, start, end in entities
            ]
            predictions.append(prediction)
        return predictions

    @staticmethod
    def _entity_text(prediction: dict[str, Any], start: int, end: int) -> dict[str, str]:
        tokens = prediction.get("tokens")
        return {"text": " ".join(tokens[start:end])} if tokens else {}
