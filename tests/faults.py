"""Running `python train.py` as a real subprocess for the fault tests: tiny deterministic SST-2 runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from nlpzoo.checkpoint import read_checkpoint
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


def tiny_run_args(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    """A deterministic two-epoch run of 8 steps per epoch in `run_dir`, resuming from it when it can."""
    return [
        f"data.path={data_dir / 'sst2'}",
        *(override for override in TINY if not override.startswith("trainer.max_epochs")),
        "trainer.max_epochs=2",
        "trainer.deterministic=true",
        "test=false",
        "validate_best=false",
        "ckpt_path=auto",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def pause_args(step: int, marker: Path) -> list[str]:
    """Overrides adding the test-only `PauseAtStep` callback (tests/interruption.py)."""
    return [
        "+callbacks.pause._target_=tests.interruption.PauseAtStep",
        f"+callbacks.pause.step={step}",
        f"+callbacks.pause.marker={marker}",
    ]


def slow_evaluation_args(stage: str, marker: Path, seconds: float) -> list[str]:
    """Overrides adding the test-only `SlowEvaluation` callback (tests/interruption.py)."""
    return [
        "+callbacks.slow._target_=tests.interruption.SlowEvaluation",
        f"+callbacks.slow.stage={stage}",
        f"+callbacks.slow.marker={marker}",
        f"+callbacks.slow.seconds={seconds}",
    ]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    paths = [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]  # ROOT: tests.interruption
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in paths if p),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        WANDB_MODE="offline",
        **extra,
    )
    return env


def start_training(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python train.py ARGS` in the project root, output to `log`."""
    stream = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        stdout=stream,
        stderr=subprocess.STDOUT,
        env=env or environment(),
    )


def run_training(args: list[str], log: Path, timeout: float = 300, env: dict[str, str] | None = None) -> int:
    """Run to completion; the exit status."""
    return start_training(args, log, env).wait(timeout=timeout)


def wait_for_marker(process: subprocess.Popen, marker: Path, timeout: float = 300) -> None:
    """Wait until the run reports (via `marker`) that it reached its pause step."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"training exited with {process.returncode} before reaching the pause step")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("training never reached the pause step")
        time.sleep(0.05)


def interrupt_at_marker(process: subprocess.Popen, marker: Path, signum: int, timeout: float = 300) -> int:
    """Wait until the run reports (via `marker`) that it reached its pause step, send `signum`, wait for exit."""
    wait_for_marker(process, marker, timeout)
    process.send_signal(signum)
    return process.wait(timeout=timeout)


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]


def assert_same_weights(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    different = [name for name in first if not torch.equal(first[name], second[name])]
    assert not different, f"weights differ from the uninterrupted run: {different}"


SIGKILL = signal.SIGKILL
SIGTERM = signal.SIGTERM
