"""The module logs each metric once per epoch over the whole split, as the objective computes it."""

from __future__ import annotations

from typing import Any

import lightning as L
import pytest
import torch
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2
from torch import nn
from torch.utils.data import DataLoader

from nlpzoo.models.base import ZooModule
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


class EmbeddingTagger(ZooModule):
    """A tag (or class) score per token id: the smallest family that serves both kinds."""

    family = "embedding_tagger"
    supported_tasks = (TaskKind.TOKEN_CLASSIFICATION, TaskKind.TEXT_CLASSIFICATION)

    def __init__(self, spec: TaskSpec, objective: dict[str, Any] | None = None) -> None:
        super().__init__(spec, objective=objective)
        self.save_family_hyperparameters()
        self.scores = nn.Embedding(spec.vocab_size, spec.num_labels)

    def forward(self, batch: Batch) -> Outputs:
        logits = self.scores(batch["input_ids"])  # (B, T, C)
        if self.spec.kind == TaskKind.TEXT_CLASSIFICATION:
            return {"logits": logits.mean(1)}
        return {"logits": logits}


def trainer() -> L.Trainer:
    return L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)


def batches(count: int, num_labels: int, seed: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    made = []
    for _ in range(count):
        input_ids = torch.randint(0, 20, (4, 9), generator=generator)
        labels = torch.randint(0, num_labels, (4, 9), generator=generator)
        labels[:, 0] = labels[:, -1] = -100  # [CLS], [SEP]
        made.append({"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels})
    return made


def test_validation_logs_span_f1_over_the_whole_split() -> None:
    spec = TaskSpec(kind=TaskKind.TOKEN_CLASSIFICATION, vocab_size=20, label_names=TAGS)
    model = EmbeddingTagger(spec, objective={"scheme": "IOB2"})
    data = batches(3, len(TAGS), seed=0)
    results = trainer().validate(model, dataloaders=DataLoader(data, batch_size=None), verbose=False)[0]

    gold, predicted = [], []
    with torch.no_grad():
        for batch in data:
            tags = model(batch)["logits"].argmax(-1)
            for row_tags, row_labels in zip(tags.tolist(), batch["labels"].tolist(), strict=True):
                kept = [(t, g) for t, g in zip(row_tags, row_labels, strict=True) if g != -100]
                predicted.append([TAGS[t] for t, _ in kept])
                gold.append([TAGS[g] for _, g in kept])
    expected = f1_score(gold, predicted, mode="strict", scheme=IOB2)
    assert expected > 0
    assert results["val/f1"] == pytest.approx(expected)
    assert {
        "val/loss",
        "val/precision",
        "val/recall",
        "val/f1_PER",
        "val/f1_LOC",
        "val/token_acc",
    } <= results.keys()
    assert model.objective.scheme == "iob2"  # one spelling, whichever case the config used
    assert model.hparams["objective"] == {"scheme": "IOB2"}


def test_confusion_matrix_is_kept_for_plots_not_logged() -> None:
    spec = TaskSpec(kind=TaskKind.TEXT_CLASSIFICATION, vocab_size=20, label_names=["neg", "pos", "mixed"])
    model = EmbeddingTagger(spec)
    data = [{**b, "labels": b["labels"][:, 1].clamp(max=2)} for b in batches(2, 3, seed=1)]
    results = trainer().test(model, dataloaders=DataLoader(data, batch_size=None), verbose=False)[0]
    assert "test/confusion_matrix" not in results
    matrix = model.metric_tables["test/confusion_matrix"]
    assert matrix.shape == (3, 3) and int(matrix.sum()) == 8
    assert results["test/acc"] == pytest.approx(float(matrix.diag().sum() / matrix.sum()))
