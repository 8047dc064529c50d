"""Hydra multirun sweeps: a failing job is recorded and the sweep goes on; the sweep ends with a summary.

Each job leaves `job.json` (overrides, status, objective, metrics, wall time, error) in its own
directory, written by the process that ran it, so the record exists whichever launcher ran the job
(in this process, joblib workers, submitit on a SLURM node). When the sweep ends, `SweepSummary`
gathers the records into `multirun_summary.json` and `multirun_summary.csv` in the sweep directory.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from nlpzoo.errors import ConfigError

log = logging.getLogger(__name__)

JOB_RECORD = "job.json"
FAILURE_RECORD = "failure.json"
SUMMARY_STEM = "multirun_summary"
OPTUNA_DIRECTIONS = {"max": "maximize", "min": "minimize"}
# Set by Lightning's DDP launcher in the process that launches the workers; they must not leak
# into the next job of a sweep, or that job believes its workers already exist.
DDP_LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def is_multirun() -> bool:
    """True inside a job of `train.py -m` (as opposed to a single run)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def sweep_group(prefix: str) -> str | None:
    """`<prefix>-<sweep directory name>` inside a sweep (the W&B group of its jobs); None for a single run."""
    if not is_multirun():
        return None
    return f"{prefix}-{Path(HydraConfig.get().sweep.dir).name}"


def objective_value(summary: dict[str, Any]) -> float | None:
    """The monitored metric of the best checkpoint: what a sweep compares and Optuna optimizes."""
    if summary.get("best_model_score") is not None:
        return float(summary["best_model_score"])
    value = summary["metrics"].get(summary["monitor"])  # no checkpoint (fast_dev_run): the last value
    return None if value is None else float(value)


def run_job(train: Callable[[DictConfig], dict[str, Any]], cfg: DictConfig) -> float | None:
    """Run one training job and return its objective.

    A single run fails loudly. In a sweep a failure is logged with its traceback, written to
    `failure.json` and returned as None, so Hydra's launcher moves on to the next job and the
    Optuna sweeper records the trial as failed.
    """
    if not is_multirun():
        return objective_value(train(cfg))
    environment = {name: os.environ.get(name) for name in DDP_LAUNCH_VARIABLES}
    failed = False
    try:
        return objective_value(train(cfg))
    except Exception as error:
        failed = True
        output_dir = Path(HydraConfig.get().runtime.output_dir)
        log.exception("job %s failed; the sweep goes on", HydraConfig.get().job.num)
        write_failure(error, output_dir)
        return None
    finally:
        finish_wandb_run(failed)
        release_distributed(environment)


def write_failure(error: BaseException, output_dir: Path) -> None:
    """failure.json: the error type, message and traceback of a failed job."""
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "error": f"{type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    }
    (output_dir / FAILURE_RECORD).write_text(json.dumps(record, indent=2))


def finish_wandb_run(failed: bool) -> None:
    """Close this job's W&B run: the next job of the sweep (same process) must start its own."""
    wandb = sys.modules.get("wandb")  # imported only where a job used it
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=1 if failed else 0)


def release_distributed(environment: dict[str, str | None]) -> None:
    """After a DDP job of a sweep: close its process group and restore the launcher's variables."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    for name, value in environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def check_sweep_direction(config: DictConfig) -> None:
    """An Optuna sweep must optimize in the direction the monitored metric improves."""
    direction = OmegaConf.select(config, "hydra.sweeper.direction", default=None)
    mode = config.get("monitor_mode")
    if direction is None or mode is None or not isinstance(direction, str):
        return
    if OPTUNA_DIRECTIONS.get(mode) != direction:
        raise ConfigError(
            f"hydra.sweeper.direction={direction} but monitor_mode={mode} (monitor={config.get('monitor')}); "
            f"set hydra.sweeper.direction={OPTUNA_DIRECTIONS.get(mode, 'maximize|minimize')}"
        )


def prepare_optuna_storage(config: DictConfig) -> None:
    """SQLite creates the study file but not its folder: make the folder before the study opens."""
    storage = OmegaConf.select(config, "hydra.sweeper.storage", default=None)
    if isinstance(storage, str) and storage.startswith("sqlite:///"):
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def job_record(job_return: JobReturn, output_dir: Path, wall_seconds: float) -> dict[str, Any]:
    """What one job did: its overrides, status, objective, final metrics, wall time and error."""
    failure_path = output_dir / FAILURE_RECORD
    summary_path = output_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    error = None
    if job_return.status == JobStatus.FAILED:  # raised before train.py could catch it
        error = f"{type(job_return._return_value).__name__}: {job_return._return_value}"
    elif failure_path.is_file():
        error = json.loads(failure_path.read_text())["error"]
    objective = job_return._return_value if error is None else None
    task_cfg = job_return.cfg if job_return.cfg is not None else OmegaConf.create()
    return {
        "job": cast(DictConfig, job_return.hydra_cfg).hydra.job.num,  # set for every launched job
        "status": "failed" if error else "completed",
        "overrides": list(job_return.overrides or []),
        "objective": objective if isinstance(objective, (int, float)) else None,
        "monitor": task_cfg.get("monitor"),  # preflight filled it in from the task objective
        "monitor_mode": task_cfg.get("monitor_mode"),
        "metrics": summary.get("metrics", {}),
        "wall_seconds": round(wall_seconds, 3),
        "error": error,
        "output_dir": str(output_dir),
    }


def collect_records(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job's record under the sweep directory; a job that died without one is `crashed`."""
    records = []
    for hydra_dir in sorted(sweep_dir.rglob(".hydra")):
        job_dir = hydra_dir.parent
        if job_dir == sweep_dir:
            continue
        record_path = job_dir / JOB_RECORD
        if record_path.is_file():
            records.append(json.loads(record_path.read_text()))
        else:
            overrides = OmegaConf.to_container(OmegaConf.load(hydra_dir / "overrides.yaml"))
            records.append(
                {
                    "job": None,
                    "status": "crashed",
                    "overrides": overrides,
                    "output_dir": str(job_dir),
                    "error": f"no {JOB_RECORD}: the job's process ended before the job did",
                }
            )
    return sorted(records, key=lambda r: (r["job"] is None, r["job"] if r["job"] is not None else 0))


def best_record(records: list[dict[str, Any]], mode: str | None) -> dict[str, Any] | None:
    """The completed job with the best objective (`max` or `min` of the monitored metric)."""
    scored = [r for r in records if r.get("objective") is not None and not math.isnan(r["objective"])]
    if not scored:
        return None
    pick = min if mode == "min" else max
    return pick(scored, key=lambda r: r["objective"])


def write_sweep_summary(sweep_dir: Path, records: list[dict[str, Any]], mode: str | None) -> Path:
    """multirun_summary.json (everything) and .csv (one row per job, one column per metric)."""
    best = best_record(records, mode)
    statuses = [r["status"] for r in records]
    summary = {
        "sweep_dir": str(sweep_dir),
        "jobs": len(records),
        "completed": statuses.count("completed"),
        "failed": len(records) - statuses.count("completed"),
        "monitor_mode": mode,
        "best_job": best["job"] if best else None,
        "best_objective": best["objective"] if best else None,
        "records": records,
    }
    json_path = sweep_dir / f"{SUMMARY_STEM}.json"
    json_path.write_text(json.dumps(summary, indent=2, default=str))
    metric_names = sorted({name for r in records for name in r.get("metrics", {})})
    columns = [
        "job",
        "status",
        "overrides",
        "objective",
        *metric_names,
        "wall_seconds",
        "error",
        "output_dir",
    ]
    with (sweep_dir / f"{SUMMARY_STEM}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for record in records:
            row = {key: record.get(key) for key in columns if key not in metric_names}
            row["overrides"] = " ".join(record.get("overrides") or [])
            row.update({name: record.get("metrics", {}).get(name) for name in metric_names})
            writer.writerow(row)
    return json_path


class SweepSummary(Callback):
    """Hydra callback (conf/hydra/default.yaml): job records while the sweep runs, the summary at its end."""

    def __init__(self) -> None:
        self._job_started = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_sweep_direction(config)
        prepare_optuna_storage(config)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._job_started = time.time()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.hydra_cfg is None or job_return.hydra_cfg.hydra.mode != RunMode.MULTIRUN:
            return
        output_dir = Path(job_return.hydra_cfg.hydra.runtime.output_dir)
        record = job_record(job_return, output_dir, time.time() - self._job_started)
        (output_dir / JOB_RECORD).write_text(json.dumps(record, indent=2, default=str))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        records = collect_records(sweep_dir)
        modes = [config.get("monitor_mode")] + [r.get("monitor_mode") for r in records]
        path = write_sweep_summary(sweep_dir, records, next((m for m in modes if m), None))
        failed = [r for r in records if r["status"] != "completed"]
        log.info("sweep summary: %d jobs, %d failed -> %s", len(records), len(failed), path)
        for record in failed:
            log.warning(
                "job %s failed (%s): %s", record["job"], " ".join(record["overrides"]), record["error"]
            )
