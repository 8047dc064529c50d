"""Hardware and logging from the command line: DDP on CPU, bf16 mixed precision, W&B offline."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT, TINY, python
from tests.wandb_records import offline_run_contents


def train_cli(*overrides: str, run_dir: Path, shared_data: Path) -> dict:
    """Run `python train.py` as a user would, and return its summary.json."""
    environment = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    environment.pop("WANDB_API_KEY", None)
    result = subprocess.run(
        [
            python(),
            "train.py",
            *TINY,
            f"data.path={shared_data / 'sst2'}",
            *overrides,
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"run directory: {run_dir}" in result.stdout
    return json.loads((run_dir / "summary.json").read_text())


def test_ddp_on_cpu_runs_two_gloo_processes_into_one_run_directory(tmp_path: Path, shared_data: Path) -> None:
    run_dir = tmp_path / "ddp"
    summary = train_cli("trainer=ddp_cpu", run_dir=run_dir, shared_data=shared_data)
    assert summary["config"]["trainer"]["strategy"] == "ddp"
    assert summary["config"]["trainer"]["devices"] == 2
    # 256 examples, batch 32, 2 processes: each rank takes half, so 4 optimizer steps in the epoch.
    assert summary["global_steps"] == 4
    assert {"val/acc", "test/acc"} <= summary["metrics"].keys()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]  # no stray run directory per rank
    assert len(list(run_dir.rglob("summary.json"))) == 1


def test_bf16_mixed_precision_on_cpu(tmp_path: Path, shared_data: Path) -> None:
    summary = train_cli("trainer.precision=bf16-mixed", run_dir=tmp_path / "bf16", shared_data=shared_data)
    assert summary["config"]["trainer"]["precision"] == "bf16-mixed"
    assert summary["metrics"]["val/loss"] > 0


def test_wandb_runs_offline_and_keeps_config_metrics_and_checkpoint(
    tmp_path: Path, shared_data: Path
) -> None:
    run_dir = tmp_path / "wandb"
    train_cli("logger=wandb", "trainer.log_every_n_steps=1", run_dir=run_dir, shared_data=shared_data)
    run_files = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(run_files) == 1
    history, config, artifacts = offline_run_contents(run_files[0])
    assert {"train/loss", "val/acc", "val/loss"} <= history
    assert {"model", "data", "trainer", "tokenizer"} <= config
    assert any(name.startswith("model-") for name in artifacts)  # the checkpoint, logged as an artifact
