"""Acceptance, with real `python train.py` processes and real signals: a run interrupted by SIGTERM,
SLURM's SIGUSR1 or SIGKILL and relaunched with the same command ends with exactly the weights of a
run never interrupted; SIGTERM after fit stops the evaluation under way and leaves a partial summary; a diverging loss stops (or skips) naming the step; a full disk while saving
is a clear error that leaves the earlier checkpoints whole."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nlpzoo.callbacks.fault_tolerance import PREEMPTED_EXIT_CODE
from nlpzoo.checkpoint import read_checkpoint
from tests.faults import (
    ROOT,
    SIGKILL,
    SIGTERM,
    assert_same_weights,
    environment,
    final_weights,
    interrupt_at_marker,
    pause_args,
    run_training,
    slow_evaluation_args,
    start_training,
    tiny_run_args,
    wait_for_marker,
)

pytestmark = pytest.mark.slow

# Real divergence: with this learning rate AdamW's decoupled weight decay multiplies every weight by
# about -1e28 per step, so the weights overflow float32 on the second update.
DIVERGING = ["model.optimizer.lr=1.0e30", "model.scheduler=null"]
EVERY_STEP = ["+callbacks.last_checkpoint.every_n_train_steps=1"]  # last.ckpt after every step
SLURM = {
    "SLURM_NTASKS": "1",
    "SLURM_JOB_NAME": "nlpzoo",
    "SLURM_JOB_ID": "4242",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_NODELIST": "localhost",
}


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


def test_slurm_requeue_signal_saves_at_the_batch_boundary_and_exits(
    tmp_path: Path, shared_data: Path
) -> None:
    """SLURM simulated by its environment variables (Lightning's SLURMEnvironment reads them); there is no
    `scontrol` here, so Lightning's requeue call fails with a warning, as it says."""
    run_dir, marker, log = tmp_path / "run", tmp_path / "paused", tmp_path / "log.txt"
    args = tiny_run_args(shared_data, run_dir, *pause_args(step=5, marker=marker))

    process = start_training(args, log, environment(**SLURM))
    status = interrupt_at_marker(process, marker, signal.SIGUSR1)
    output = log.read_text()
    assert status == PREEMPTED_EXIT_CODE, output[-3000:]
    assert "Handling auto-requeue signal" in output and "preempted at global step 5" in output
    assert read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 5


def checkpoint_hashes(run_dir: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in run_dir.glob("checkpoints/*.ckpt")
    }


@pytest.mark.parametrize("stage", ["validate", "test"])
def test_sigterm_after_fit_stops_the_pass_keeps_the_checkpoints_and_writes_a_partial_summary(
    stage: str, tmp_path: Path, shared_data: Path
) -> None:
    """The best checkpoint's validation or the test pass, over the whole split (28 or 57 batches) at 3 s a
    batch, stops at the first batch boundary after SIGTERM instead of running on for minutes."""
    run_dir, marker, log = tmp_path / "run", tmp_path / "evaluating", tmp_path / "log.txt"
    whole_splits = ["data.max_val_samples=null", "data.max_test_samples=null"]
    slow = slow_evaluation_args(stage, marker, seconds=3)
    process = start_training(
        tiny_run_args(shared_data, run_dir, "validate_best=true", "test=true", *whole_splits, *slow), log
    )
    wait_for_marker(process, marker)
    checkpoints = checkpoint_hashes(run_dir)
    signalled = time.monotonic()
    process.send_signal(SIGTERM)
    status = process.wait(timeout=300)

    # The rest of the pass would sleep 81 s or more; most of this allowance is the interpreter's own shutdown,
    # about 12 s on a loaded 2-core machine (measured), for a finished run as well.
    assert time.monotonic() - signalled < 45
    output = log.read_text()
    assert status == PREEMPTED_EXIT_CODE, output[-3000:]
    assert "Traceback" not in output and f"SIGTERM: stopped the {stage} pass" in output
    assert int(marker.read_text()) <= 2  # the batch under way (or, on a slow machine, the next one), no more
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["partial"] is True and summary["interrupted"] == stage
    assert summary["monitor"] in summary["metrics"]  # fit's validation, or the best checkpoint's, is kept
    assert not [name for name in summary["metrics"] if name.startswith("test/")]
    assert checkpoint_hashes(run_dir) == checkpoints and "best-epoch" in summary["best_checkpoint"]
    assert read_checkpoint(summary["best_checkpoint"])["state_dict"]


@pytest.fixture(scope="module")
def diverged(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[int, str, Path]:
    """A diverging run (last.ckpt after every step), with the default `stop` action: (status, output, run dir)."""
    run_dir = tmp_path_factory.mktemp("diverged") / "run"
    log = run_dir.parent / "log.txt"
    status = run_training(tiny_run_args(shared_data, run_dir, *DIVERGING, *EVERY_STEP), log)
    return status, log.read_text(), run_dir


def test_diverging_run_stops_naming_the_step_and_leaves_the_last_good_checkpoint(diverged) -> None:
    status, output, run_dir = diverged
    assert status == 1, output[-3000:]
    match = re.search(
        r"training (loss is|gradients are|weights after the update are) (nan|inf) at global step (\d+)",
        output,
    )
    assert match, output[-3000:]
    assert "nlpzoo: error: training" in output and "the last checkpoint is the last good one" in output
    saved = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    bad_step = int(match.group(3))
    # Stopped before the bad update (loss, gradients) or before the bad update's checkpoint (weights).
    assert saved["global_step"] == (bad_step - 1 if match.group(1).startswith("weights") else bad_step)
    assert all(torch.isfinite(weight).all() for weight in saved["state_dict"].values())


def test_full_disk_while_saving_gives_a_clear_error_and_keeps_the_previous_checkpoint(
    uninterrupted: Path, tmp_path: Path, shared_data: Path
) -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("needs `unshare` (a private mount namespace) to mount a tiny tmpfs")
    checkpoint_size = (uninterrupted / "checkpoints" / "last.ckpt").stat().st_size
    run_dir, kept, log = tmp_path / "run", tmp_path / "kept", tmp_path / "log.txt"
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True)
    kept.mkdir()
    # Room for the files epoch 0 leaves (best, latest, last) but not for one more being written in epoch 1.
    files_per_epoch = len(list((uninterrupted / "checkpoints").glob("*.ckpt")))
    size_kib = int((files_per_epoch + 0.5) * checkpoint_size / 1024)
    command = " ".join(
        shlex.quote(a) for a in [sys.executable, "train.py", *tiny_run_args(shared_data, run_dir)]
    )
    script = (
        f"mount -t tmpfs -o size={size_kib}k tmpfs {folder} && {{ {command}; status=$?; "
        f"cp -a {folder}/. {kept}/; exit $status; }}"
    )
    with log.open("wb") as stream:
        status = subprocess.run(
            ["unshare", "-rm", "sh", "-c", script],
            cwd=ROOT,
            env=environment(),
            stdout=stream,
            stderr=subprocess.STDOUT,
        ).returncode
    output = log.read_text()
    assert status != 0, output[-3000:]
    assert "cannot write checkpoint" in output and "no space left on the device" in output, output[-3000:]
    assert "are intact" in output
    assert read_checkpoint(kept / "last.ckpt")["global_step"] == 8  # epoch 0's, whole and loadable
    assert not list(kept.glob(".*.partial"))  # the half-written file was removed
