"""Span-level precision/recall/F1 per entity type, over tag sequences.

Entities are read as seqeval's strict mode reads them (`nlpzoo.tasks.tagging.tags_to_spans`):
an entity counts only when it is well-formed in its scheme, and a predicted entity is correct
only when its type, start and end all match a gold entity. IOB1 gives conlleval's chunks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric

from nlpzoo.tasks.spec import IGNORE_INDEX
from nlpzoo.tasks.tagging import entity_types, infer_scheme, scheme_name, tags_to_spans


def prf(
    true_positives: torch.Tensor, predicted: torch.Tensor, gold: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Precision, recall, F1 from counts, 0 where undefined (seqeval's zero_division)."""
    precision = true_positives / predicted.clamp(min=1)
    recall = true_positives / gold.clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return precision, recall, f1


class SpanF1(Metric):
    """Micro-averaged span precision/recall/F1 and the same per entity type, over tag-id sequences.

    `update(predictions, labels)` takes (batch, seq) tag ids; positions where labels == IGNORE_INDEX
    (-100) are dropped, the rest read as one sentence per row.
    """

    full_state_update = False
    true_positives: torch.Tensor  # states (add_state), declared for the type checker
    predicted: torch.Tensor
    gold: torch.Tensor

    def __init__(
        self, label_names: Sequence[str], scheme: str | None = None, ignore_index: int = IGNORE_INDEX
    ) -> None:
        super().__init__()
        self.label_names = list(label_names)
        self.scheme = scheme_name(scheme or infer_scheme(self.label_names))
        self.types = entity_types(self.label_names)
        self.type_index = {name: i for i, name in enumerate(self.types)}
        self.ignore_index = ignore_index
        for name in ("true_positives", "predicted", "gold"):
            self.add_state(name, default=torch.zeros(len(self.types), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: torch.Tensor, labels: torch.Tensor) -> None:
        # predictions, labels: (batch, seq) tag ids
        keep = labels != self.ignore_index
        counts = torch.zeros(3, len(self.types), dtype=torch.long)
        for row_predictions, row_labels, row_keep in zip(
            predictions.tolist(), labels.tolist(), keep.tolist(), strict=True
        ):
            gold = set(tags_to_spans(self._tags(row_labels, row_keep), self.scheme))
            predicted = set(tags_to_spans(self._tags(row_predictions, row_keep), self.scheme))
            for row, spans in enumerate((gold & predicted, predicted, gold)):
                for entity_type, _, _ in spans:
                    counts[row, self.type_index[entity_type]] += 1
        counts = counts.to(self.true_positives.device)
        self.true_positives += counts[0]
        self.predicted += counts[1]
        self.gold += counts[2]

    def _tags(self, ids: list[int], keep: list[bool]) -> list[str]:
        return [self.label_names[i] for i, k in zip(ids, keep, strict=True) if k]

    def compute(self) -> dict[str, torch.Tensor]:
        precision, recall, f1 = prf(self.true_positives.sum(), self.predicted.sum(), self.gold.sum())
        results = {"precision": precision, "recall": recall, "f1": f1}
        per_type = prf(self.true_positives, self.predicted, self.gold)
        for i, entity_type in enumerate(self.types):
            for name, values in zip(("precision", "recall", "f1"), per_type, strict=True):
                results[f"{name}_{entity_type}"] = values[i]
        return results
