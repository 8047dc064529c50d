"""Acceptance: a run interrupted by SIGTERM or SIGKILL and relaunched with the same command ends with
exactly the weights of a run never interrupted (real processes, real signals)."""

from __future__ import annotations

from pathlib import Path

import pytest
from faults import (
    SIGKILL,
    SIGTERM,
    assert_same_weights,
    final_weights,
    interrupt_at_marker,
    pause_args,
    run_training,
    start_training,
    tiny_run_args,
)

from nlpzoo.callbacks.fault_tolerance import PREEMPTED_EXIT_CODE
from nlpzoo.checkpoint import read_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    status = run_training(tiny_run_args(shared_data, run_dir), run_dir.parent / "log.txt")
    assert status == 0, (run_dir.parent / "log.txt").read_text()[-3000:]
    assert read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 16
    return run_dir


def test_sigterm_mid_epoch_saves_and_the_same_command_resumes_to_identical_weights(
    uninterrupted: Path, tmp_path: Path, shared_data: Path
) -> None:
    run_dir, marker, log = tmp_path / "run", tmp_path / "paused", tmp_path / "log.txt"
    args = tiny_run_args(shared_data, run_dir, *pause_args(step=5, marker=marker))

    status = interrupt_at_marker(start_training(args, log), marker, SIGTERM)
    output = log.read_text()
    assert status == PREEMPTED_EXIT_CODE, output[-3000:]
    assert "preempted at global step 5" in output and "Traceback" not in output
    saved = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert saved["global_step"] == 5  # mid-epoch: the loader's position is in the checkpoint
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]["_num_yielded"] == 5

    assert run_training(args, log) == 0, log.read_text()[-3000:]  # the very same command
    assert "resuming from" in log.read_text()
    assert_same_weights(final_weights(uninterrupted), final_weights(run_dir))


def test_sigkill_loses_only_the_unsaved_steps_and_resumes_to_identical_weights(
    uninterrupted: Path, tmp_path: Path, shared_data: Path
) -> None:
    run_dir, marker, log = tmp_path / "run", tmp_path / "paused", tmp_path / "log.txt"
    args = tiny_run_args(shared_data, run_dir, *pause_args(step=11, marker=marker))

    status = interrupt_at_marker(start_training(args, log), marker, SIGKILL)
    assert status == -SIGKILL
    assert read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 8  # the epoch-0 save

    assert run_training(args, log) == 0, log.read_text()[-3000:]
    assert_same_weights(final_weights(uninterrupted), final_weights(run_dir))
