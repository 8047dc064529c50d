"""callbacks.weight_averaging: the EMA weights are what validation, the test pass, the checkpoint and
eval.py all read, and the raw weights survive in the checkpoint for resuming."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from nlpzoo.callbacks import ExponentialMovingAverage
from nlpzoo.checkpoint import read_checkpoint
from nlpzoo.evaluation import run_evaluation
from nlpzoo.models import RecurrentModel
from nlpzoo.tasks import TaskKind
from nlpzoo.training import run_training
from tests.conftest import TINY, compose_config
from tests.test_scratch_families import TINY_RECURRENT, bare_trainer, classification_batch, make_spec

EMA = "callbacks.weight_averaging={_target_: nlpzoo.callbacks.ExponentialMovingAverage, decay: 0.9}"


def test_test_pass_and_eval_read_the_averaged_weights_of_the_best_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    summary = run_training(compose_config([*TINY, "trainer.max_epochs=2", EMA], run_dir))
    checkpoint = read_checkpoint(summary["best_checkpoint"])
    average, raw = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert average.keys() == raw.keys()
    assert any(not torch.equal(average[name], raw[name]) for name in average)  # an average, not a copy

    evaluated = run_evaluation(
        compose_config(
            [f"ckpt_path={summary['best_checkpoint']}", "split=test", "data.max_test_samples=64"],
            tmp_path / "eval",
            config_name="eval",
        )
    )
    # The training run's own test pass scored the checkpoint's averaged weights, as eval.py does.
    assert summary["metrics"]["test/loss"] == pytest.approx(evaluated["metrics"]["test/loss"], abs=1e-6)

    resumed = run_training(compose_config([*TINY, "trainer.max_epochs=3", EMA, "ckpt_path=last"], run_dir))
    assert resumed["epochs"] == 3


class WeightsAfterEachStep(L.Callback):
    def __init__(self) -> None:
        self.steps: list[list[torch.Tensor]] = []

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *_: Any) -> None:
        self.steps.append([p.detach().clone() for p in module.parameters()])


def test_the_average_is_the_decayed_sum_of_the_weights_after_each_step() -> None:
    """avg_1 = w_1, avg_t = decay * avg_(t-1) + (1 - decay) * w_t, over every parameter."""
    torch.manual_seed(0)
    spec = make_spec(TaskKind.TEXT_CLASSIFICATION, label_names=["no", "yes"])
    module = RecurrentModel(spec, **TINY_RECURRENT, optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-2})
    average, weights = ExponentialMovingAverage(decay=0.8), WeightsAfterEachStep()
    trainer = bare_trainer(
        max_steps=4,
        callbacks=[weights, average],  # weights first: they are read before the average is updated
    )
    batches = [classification_batch(torch.Generator().manual_seed(i)) for i in range(4)]
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    expected = weights.steps[0]
    for step in weights.steps[1:]:
        expected = [0.8 * a + 0.2 * w for a, w in zip(expected, step, strict=True)]
    averaged = list(average._average_model.module.parameters())  # type: ignore[union-attr]
    assert len(weights.steps) == 4
    for got, want in zip(averaged, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert not torch.equal(averaged[0], weights.steps[-1][0])  # an average, not the last weights
