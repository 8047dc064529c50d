"""Entity spans from tag sequences, and span-level precision/recall/F1 per entity type.

Extraction follows seqeval's strict mode (`mode="strict"`): an entity counts only when it is
well-formed in its scheme, and a predicted entity is correct only when its type, start and end
all match a gold entity. IOB1 tags are first rewritten to IOB2, which gives conlleval's chunks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric

from nlpzoo.errors import ConfigError

SCHEMES = ("IOB1", "IOB2", "IOBES")
Span = tuple[str, int, int]  # (entity type, start, end exclusive)


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '')."""
    if tag == "O":
        return "O", ""
    prefix, _, entity_type = tag.partition("-")
    return prefix, entity_type


def infer_scheme(label_names: Sequence[str]) -> str:
    """IOBES when any tag starts with E- or S-, else IOB2 (IOB1 must be declared: its tags look the same)."""
    prefixes = {split_tag(name)[0] for name in label_names}
    return "IOBES" if prefixes & {"E", "S"} else "IOB2"


def entity_types(label_names: Sequence[str]) -> list[str]:
    """Sorted entity types of a tag set ('B-PER', 'I-PER', 'O' -> ['PER'])."""
    return sorted({split_tag(name)[1] for name in label_names if name != "O"})


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """An I-X that does not continue an X entity starts one (conlleval's reading of IOB1)."""
    converted = []
    previous_type = ""
    for tag in tags:
        prefix, entity_type = split_tag(tag)
        if prefix == "I" and previous_type != entity_type:
            tag = f"B-{entity_type}"
        converted.append(tag)
        previous_type = entity_type
    return converted


def extract_spans(tags: Sequence[str], scheme: str = "IOB2") -> set[Span]:
    """Well-formed entities of one sentence, as seqeval's strict mode reads them.

    IOB2: B-X followed by any run of I-X. IOBES: S-X alone, or B-X, I-X..., E-X; a B-X run
    that never reaches its E-X is no entity. Stray I-/E- tags start nothing.
    """
    if scheme not in SCHEMES:
        raise ConfigError(f"tag scheme '{scheme}' is not one of {SCHEMES}")
    allowed = {"IOB1": "BIO", "IOB2": "BIO", "IOBES": "BIOES"}[scheme]
    for tag in tags:
        if split_tag(tag)[0] not in allowed:
            raise ConfigError(
                f"tag '{tag}' is not valid in the {scheme} scheme (prefixes: {', '.join(allowed)})"
            )
    if scheme == "IOB1":
        tags = iob1_to_iob2(tags)
    parsed = [split_tag(tag) for tag in tags]
    continuing = {"IOB1": "I", "IOB2": "I", "IOBES": "IE"}[scheme]
    spans: set[Span] = set()
    i = 0
    while i < len(parsed):
        prefix, entity_type = parsed[i]
        if prefix == "S":
            spans.add((entity_type, i, i + 1))
            i += 1
            continue
        if prefix != "B":
            i += 1
            continue
        end = i + 1
        last_prefix = "B"
        # Inside: I-X after B-X/I-X (and, in IOBES, E-X after B-X/I-X).
        while (
            end < len(parsed)
            and last_prefix in "BI"
            and parsed[end][0] in continuing
            and parsed[end][1] == entity_type
        ):
            last_prefix = parsed[end][0]
            end += 1
        if scheme != "IOBES" or last_prefix == "E":
            spans.add((entity_type, i, end))
        i = end
    return spans


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

    `update(predictions, labels)` takes (batch, seq) tag ids; positions where labels == -100
    are dropped, the rest read as one sentence per row.
    """

    full_state_update = False
    true_positives: torch.Tensor  # states (add_state), declared for the type checker
    predicted: torch.Tensor
    gold: torch.Tensor

    def __init__(
        self, label_names: Sequence[str], scheme: str | None = None, ignore_index: int = -100
    ) -> None:
        super().__init__()
        self.label_names = list(label_names)
        self.scheme = scheme or infer_scheme(self.label_names)
        if self.scheme not in SCHEMES:
            raise ConfigError(f"tag scheme '{self.scheme}' is not one of {SCHEMES}")
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
            gold = extract_spans(self._tags(row_labels, row_keep), self.scheme)
            predicted = extract_spans(self._tags(row_predictions, row_keep), self.scheme)
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
