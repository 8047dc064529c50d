"""A run resumed from its last checkpoint ends with the same weights as an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nlpzoo.checkpoint import read_checkpoint
from tests.interruption import SimulatedCrash

RESUMABLE = ["trainer.max_epochs=2", "callbacks.early_stopping=null", "test=false", "validate_best=false"]
CRASH = "+callbacks.crash={_target_: tests.interruption.CrashAtEpochStart, epoch: 1}"


def test_resumed_run_matches_uninterrupted_run(train_run, tmp_path: Path) -> None:
    straight = train_run(RESUMABLE, output_dir=tmp_path / "straight")

    interrupted = tmp_path / "interrupted"
    with pytest.raises(SimulatedCrash):
        train_run([*RESUMABLE, CRASH], output_dir=interrupted)
    resumed = train_run([*RESUMABLE, "ckpt_path=last"], output_dir=interrupted)

    assert straight["global_steps"] == resumed["global_steps"] == 16  # 2 epochs x 256/32 batches
    expected = read_checkpoint(straight["last_checkpoint"])["state_dict"]
    actual = read_checkpoint(resumed["last_checkpoint"])["state_dict"]
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)
