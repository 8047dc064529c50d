"""Experiment tracking: a W&B offline run read back record by record, MLflow, the W&B sweep group."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write

from nlpzoo.sweeps import sweep_group
from tests.conftest import compose_config
from tests.wandb_records import history_rows, of_type, records

FAKE_API_KEY = "local-9f2c0d7e5b1a4c3d8e6f0a1b2c3d4e5f6a7b8c9d"


def test_wandb_offline_run_holds_config_metrics_predictions_and_the_best_checkpoint(
    train_script, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = train_script(
        [
            "logger=wandb",
            f"hydra.run.dir={run_dir}",
            "trainer.log_every_n_steps=1",
            "callbacks.prediction_table.num_examples=10",
            "callbacks.wandb_watch.log=gradients",
            "callbacks.wandb_watch.log_freq=2",
            "logger.wandb.tags=[tiny,test]",
        ],
        env={"WANDB_MODE": "offline", "WANDB_API_KEY": FAKE_API_KEY},
    )
    assert result.returncode == 0, result.log
    summary = json.loads((run_dir / "summary.json").read_text())
    (log_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    run_records = list(records(log_file))

    (run,) = of_type(run_records, "run")
    assert (run.project, run.job_type, list(run.tags)) == ("nlpzoo", "train", ["tiny", "test"])

    config: dict[str, Any] = {}
    for update in of_type(run_records, "config"):
        config.update({item.key: json.loads(item.value_json) for item in update.update})
    assert config["model"]["hidden_size"] == 16 and config["data"]["max_train_samples"] == 256
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert config["git"]["commit"] == head

    rows = history_rows(run_records)
    train_steps = [row["trainer/global_step"] for row in rows if "train/loss" in row]
    assert train_steps == list(range(8))  # per step: 256 examples / batch 32
    assert any("val/acc" in row and "epoch" in row for row in rows)  # per epoch
    assert any(key.startswith("gradients/") for row in rows for key in row)  # wandb.watch histograms

    # the prediction table: text, gold and predicted label of the first validation examples
    table_path = next(row["val/predictions/path"] for row in rows if "val/predictions/path" in row)
    table = json.loads((log_file.parent / "files" / table_path).read_text())
    assert table["columns"] == ["text", "gold", "predicted", "score"] and len(table["data"]) == 10
    for text, gold, predicted, score in table["data"]:
        assert text.strip() and {gold, predicted} <= {"negative", "positive"} and 0.5 <= score <= 1.0

    # the best checkpoint, byte for byte, as a model artifact with the alias `best`
    (best,) = [a for a in of_type(run_records, "artifact") if a.type == "model" and "best" in a.aliases]
    (entry,) = best.manifest.contents
    digest = base64.b64encode(hashlib.md5(Path(summary["best_checkpoint"]).read_bytes()).digest()).decode()
    assert (entry.path, entry.digest) == ("model.ckpt", digest)
    assert json.loads(best.metadata)["score"] == summary["best_model_score"]

    # the API key is in none of the run's files (config dumps, logs, summary, the W&B run) nor its output
    for path in [p for p in run_dir.rglob("*") if p.is_file()]:
        assert FAKE_API_KEY.encode() not in path.read_bytes(), path
    assert FAKE_API_KEY not in result.stdout + result.stderr


def test_wandb_group_is_the_sweep(tmp_path: Path) -> None:
    compose_config([], tmp_path)
    assert sweep_group("sst2_lstm") is None  # a single run has no group
    hydra_cfg = HydraConfig.get()
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.mode = RunMode.MULTIRUN
        hydra_cfg.sweep.dir = str(tmp_path / "multiruns" / "2026-01-02_03-04-05")
    assert sweep_group("sst2_lstm") == "sst2_lstm-2026-01-02_03-04-05"


def test_mlflow_logger_records_params_and_metrics_in_a_local_store(train_run, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    summary = train_run(["logger=mlflow", "trainer.log_every_n_steps=1"])
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'run' / 'logs' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("train").experiment_id])
    assert run.data.metrics["val/acc"] == summary["metrics"]["val/acc"]
    assert run.data.params["model/hidden_size"] == "16" and len(run.data.params["git/commit"]) == 40
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) == 8
    # The run's plots are MLflow artifacts too, byte for byte the PNGs in the run directory.
    plots_dir = Path(summary["output_dir"]) / "plots"
    logged = {Path(item.path).name for item in client.list_artifacts(run.info.run_id, "plots")}
    assert (
        logged
        == {path.name for path in plots_dir.glob("*.png")}
        >= {"learning_curves.png", "confusion_matrix_val.png"}
    )
    copy = client.download_artifacts(run.info.run_id, "plots/learning_curves.png", str(tmp_path))
    assert Path(copy).read_bytes() == (plots_dir / "learning_curves.png").read_bytes()
