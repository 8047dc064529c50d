"""SIGTERM after fit, sent to the process running the recipe while it tests the best checkpoint: the pass
stops before its next batch, summary.json says it is partial, and the exit status is 143 as for a
preempted fit. (tests/test_faults_end_to_end.py signals a real `python train.py` the same way.)"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from nlpzoo.callbacks.fault_tolerance import PREEMPTED_EXIT_CODE
from nlpzoo.checkpoint import read_checkpoint
from tests.faults import slow_evaluation_args


def sigterm_when(marker: Path) -> None:
    """Send this process SIGTERM, as a scheduler would, once `marker` appears."""

    def wait_and_signal() -> None:
        while not marker.exists():
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait_and_signal, daemon=True).start()


def test_sigterm_in_the_test_pass_stops_it_and_the_relaunched_run_finishes_it(
    train_run, tmp_path: Path
) -> None:
    marker, run_dir = tmp_path / "testing", tmp_path / "run"
    command = ["data.max_test_samples=256", "ckpt_path=auto"]
    sigterm_when(marker)
    with pytest.raises(SystemExit) as stopped:  # 8 test batches, 1 s each
        train_run([*command, *slow_evaluation_args("test", marker, seconds=1)], output_dir=run_dir)

    assert stopped.value.code == PREEMPTED_EXIT_CODE
    assert int(marker.read_text()) <= 2  # the batch under way (or, on a slow machine, the next one), no more
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["partial"] is True and summary["interrupted"] == "test"
    assert summary["monitor"] in summary["metrics"]  # the best checkpoint's validation finished and is kept
    assert not [name for name in summary["metrics"] if name.startswith("test/")]
    assert read_checkpoint(summary["best_checkpoint"])["state_dict"]

    finished = train_run(command, output_dir=run_dir)  # trains no further: evaluates the same best checkpoint
    assert (
        finished["partial"] is False and finished["interrupted"] is None and "test/acc" in finished["metrics"]
    )
    assert finished["global_steps"] == summary["global_steps"]
    assert finished["best_checkpoint"] == summary["best_checkpoint"]
    assert finished["metrics"][summary["monitor"]] == summary["metrics"][summary["monitor"]]
