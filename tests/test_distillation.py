"""Distillation: the loss against a hand computation, and a student trained from a teacher checkpoint."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

import nlpzoo
from nlpzoo.distillation import teacher_logits, training_texts_in_order
from nlpzoo.errors import ConfigError
from nlpzoo.tasks import TaskKind, TaskSpec, build_objective
from nlpzoo.tasks.distillation import DistillationObjective
from nlpzoo.training import build_datamodule


def objective(temperature: float, alpha: float) -> DistillationObjective:
    spec = TaskSpec(kind=TaskKind.TEXT_CLASSIFICATION, vocab_size=10, label_names=["negative", "positive"])
    return DistillationObjective(build_objective(spec), temperature, alpha)


def test_distillation_loss_matches_the_formula_by_hand() -> None:
    student = torch.tensor([[2.0, -1.0]])
    teacher = torch.tensor([[0.5, 1.5]])
    labels = torch.tensor([0])
    t, alpha = 2.0, 0.7
    p_teacher = [math.exp(x / t) / sum(math.exp(y / t) for y in (0.5, 1.5)) for x in (0.5, 1.5)]
    p_student = [math.exp(x / t) / sum(math.exp(y / t) for y in (2.0, -1.0)) for x in (2.0, -1.0)]
    kl = sum(pt * math.log(pt / ps) for pt, ps in zip(p_teacher, p_student, strict=True))
    cross_entropy = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(-1.0)))
    expected = alpha * t * t * kl + (1 - alpha) * cross_entropy
    loss = objective(t, alpha).loss({"logits": student}, {"labels": labels, "teacher_logits": teacher})
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # Without teacher logits (validation batches) it is the task's own loss.
    plain = objective(t, alpha).loss({"logits": student}, {"labels": labels})
    assert plain.item() == pytest.approx(F.cross_entropy(student, labels).item())


def test_distillation_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="temperature"):
        objective(0.0, 0.5)
    with pytest.raises(ConfigError, match="alpha"):
        objective(2.0, 1.5)


def test_student_trains_from_a_teacher_checkpoint_and_caches_its_logits(
    train_run, tiny_lstm_checkpoint: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    # The student tokenizes differently from the teacher (characters vs words) and is another cell.
    overrides = [
        "model=gru",
        "tokenizer=char",
        f"distillation.teacher={tiny_lstm_checkpoint}",
        f"distillation.cache_dir={cache}",
    ]
    summary = train_run(overrides)
    assert 0.0 <= summary["metrics"]["test/acc"] <= 1.0
    (cached,) = cache.glob("teacher_logits_*.npy")
    logits = np.load(cached)
    assert logits.shape == (256, 2) and np.isfinite(logits).all()
    # Row i holds the teacher's logits for the i-th training text, computed with the teacher's own tokenizer.
    datamodule = build_datamodule(OmegaConf.create(summary["config"]))
    datamodule.setup("fit")
    texts = training_texts_in_order(datamodule)
    direct = teacher_logits(nlpzoo.load(tiny_lstm_checkpoint), texts, batch_size=64)
    np.testing.assert_allclose(direct, logits, atol=1e-5)
