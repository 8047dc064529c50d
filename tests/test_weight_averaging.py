"""callbacks.weight_averaging: the EMA weights are what validation, the test pass, the checkpoint and
eval.py all read, and the raw weights survive in the checkpoint for resuming."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nlpzoo.checkpoint import read_checkpoint
from nlpzoo.evaluation import run_evaluation
from nlpzoo.training import run_training
from tests.conftest import TINY, compose_config

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
