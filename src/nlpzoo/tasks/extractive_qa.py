"""Extractive QA: start/end cross-entropy; best span over strided windows; SQuAD exact match and F1."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection

from nlpzoo.errors import ConfigError, DataError
from nlpzoo.metrics.squad import SquadScore, best_spans, exact_match, stable_example_key, token_f1
from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective
from nlpzoo.tasks.spec import TaskKind, TaskSpec


def context_offsets(batch: Batch) -> torch.Tensor:
    """(batch, seq, 2) character offsets into the context, (-1, -1) outside it.

    Accepts the contract's tensor, or per-example lists with None outside the context (the
    convention of Hugging Face's QA examples).
    """
    offsets = batch.get("offset_mapping")
    if offsets is None:
        raise DataError(
            "extractive QA evaluation needs 'offset_mapping' in the batch to map spans back to text"
        )
    if isinstance(offsets, torch.Tensor):
        return offsets.long()
    length = batch["input_ids"].shape[1]
    rows = [[pair if pair is not None else (-1, -1) for pair in row] for row in offsets]
    rows = [row + [(-1, -1)] * (length - len(row)) for row in rows]
    return torch.tensor(rows, dtype=torch.long, device=batch["input_ids"].device)


def example_ids(batch: Batch) -> list[Any]:
    """The batch's example ids as a list (the collator stacks integer ids into a tensor)."""
    ids = batch.get("example_id")
    if ids is None:
        return list(range(len(batch["context"])))
    return ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)


def gold_texts(answers: Any) -> list[str]:
    """Gold answer texts from a list of strings or SQuAD's {"text": [...], "answer_start": [...]}."""
    if isinstance(answers, dict):
        return list(answers["text"])
    return [answers] if isinstance(answers, str) else list(answers)


class ExtractiveQAObjective(TaskObjective):
    """Span extraction: each window proposes its best span of at most `max_answer_length` tokens."""

    kind = TaskKind.EXTRACTIVE_QA
    monitor = "f1"
    mode = "max"

    def __init__(self, spec: TaskSpec, max_answer_length: int = 30) -> None:
        super().__init__(spec)
        if max_answer_length < 1:
            raise ConfigError(f"objective.max_answer_length must be >= 1, got {max_answer_length}")
        self.max_answer_length = max_answer_length

    def task_loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        start = F.cross_entropy(outputs["start_logits"].float(), batch["start_positions"])  # logits (B, T)
        end = F.cross_entropy(outputs["end_logits"].float(), batch["end_positions"])
        return (start + end) / 2

    def metrics(self) -> MetricCollection:
        return MetricCollection({"squad": SquadScore()}, compute_groups=False)

    def answers(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        """Each window's best answer: text, character span in the context, and start+end score."""
        offsets = context_offsets(batch)  # (B, T, 2)
        in_context = (offsets[..., 0] >= 0) & (offsets[..., 1] > offsets[..., 0])
        if "attention_mask" in batch:
            in_context &= batch["attention_mask"].bool()
        start, end, score = best_spans(
            outputs["start_logits"], outputs["end_logits"], in_context, self.max_answer_length
        )
        found = []
        for i, context in enumerate(batch["context"]):
            if torch.isinf(score[i]):  # a window without context tokens proposes nothing
                found.append({"answer": "", "score": float("-inf"), "start_char": -1, "end_char": -1})
                continue
            start_char, end_char = int(offsets[i, start[i], 0]), int(offsets[i, end[i], 1])
            found.append(
                {
                    "answer": context[start_char:end_char],
                    "score": float(score[i]),
                    "start_char": start_char,
                    "end_char": end_char,
                }
            )
        return found

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        for key in ("example_id", "context", "answers"):
            if key not in batch:
                raise DataError(
                    f"extractive QA evaluation needs '{key}' in the batch (see nlpzoo.tasks.objective)"
                )
        found = self.answers(outputs, batch)
        golds = [gold_texts(a) for a in batch["answers"]]
        device = outputs["start_logits"].device
        metrics.update(
            keys=torch.tensor([stable_example_key(e) for e in example_ids(batch)], device=device),
            scores=torch.tensor([f["score"] for f in found], dtype=torch.float64, device=device),
            exact=torch.tensor(
                [exact_match(f["answer"], g) for f, g in zip(found, golds, strict=True)], device=device
            ),
            f1=torch.tensor(
                [token_f1(f["answer"], g) for f, g in zip(found, golds, strict=True)], device=device
            ),
        )

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        return [
            {"id": i, **found}
            for i, found in zip(example_ids(batch), self.answers(outputs, batch), strict=True)
        ]

    def finalize_predictions(self, predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One answer per example: the best-scoring of its windows, in first-seen order."""
        best: dict[Any, dict[str, Any]] = {}
        for prediction in predictions:
            current = best.get(prediction["id"])
            if current is None or prediction["score"] > current["score"]:
                best[prediction["id"]] = prediction
        return list(best.values())
