"""Beyond one process: sharded strategies, and launchers that run sweep jobs elsewhere (SLURM, joblib)."""

from __future__ import annotations

import importlib.util
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hydra
import lightning as L
import pytest
import yaml
from hydra.errors import InstantiationException
from lightning.pytorch.strategies import FSDPStrategy, StrategyRegistry

from nlpzoo.training import preflight
from tests.conftest import compose_config


def test_fsdp_config_builds_a_sharded_strategy(tmp_path: Path) -> None:
    cfg = compose_config(["trainer=fsdp"], tmp_path)
    preflight(cfg)  # config keys and types checked against what they build
    strategy = hydra.utils.instantiate(cfg.trainer.strategy)
    assert isinstance(strategy, FSDPStrategy)
    assert str(strategy.sharding_strategy) == "ShardingStrategy.FULL_SHARD"
    assert strategy.kwargs["auto_wrap_policy"].keywords == {"min_num_params": 1_000_000}


def test_deepspeed_config_composes_and_names_its_missing_package(tmp_path: Path) -> None:
    cfg = compose_config(["trainer=deepspeed", "trainer.accelerator=cpu", "trainer.devices=1"], tmp_path)
    preflight(cfg)  # config keys and types checked against what they build
    assert cfg.trainer.strategy in StrategyRegistry.available_strategies()
    if importlib.util.find_spec("deepspeed") is None:  # not installable without CUDA: a clear error
        with pytest.raises(InstantiationException, match="pip install -U deepspeed"):
            hydra.utils.instantiate(cfg.trainer)
    else:
        assert isinstance(hydra.utils.instantiate(cfg.trainer), L.Trainer)


def test_slurm_launcher_config_follows_the_trainer(train_script) -> None:
    result = train_script(
        [
            "hydra/launcher=slurm",
            "trainer=ddp",
            "trainer.devices=8",
            "trainer.num_nodes=2",
            "hydra.launcher.partition=gpu",
        ],
        flags=("--cfg", "all", "--resolve"),
        tiny=False,
    )
    assert result.returncode == 0, result.log
    launcher = yaml.safe_load(result.stdout)["hydra"]["launcher"]
    assert launcher["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    # one task per GPU on every node: Lightning's SLURM environment takes the ranks from srun
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (2, 8, 8)
    assert launcher["partition"] == "gpu" and "/multiruns/" in launcher["submitit_folder"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("launcher", "seeds"),
    [
        (["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"], [1]),
        (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], [1, 2]),
    ],
    ids=["submitit_local", "joblib"],
)
def test_launchers_run_sweep_jobs_in_other_processes(
    train_script, tmp_path: Path, launcher: list[str], seeds: list[int]
) -> None:
    sweep_dir = tmp_path / "sweep"
    seed_values = ",".join(map(str, seeds))
    result = train_script([*launcher, f"seed={seed_values}", f"hydra.sweep.dir={sweep_dir}"], flags=("-m",))
    assert result.returncode == 0, result.log
    summary = json.loads((sweep_dir / "multirun_summary.json").read_text())
    assert [r["status"] for r in summary["records"]] == ["completed"] * len(seeds)
    for record in summary["records"]:
        run_summary = json.loads((Path(record["output_dir"]) / "summary.json").read_text())
        assert record["metrics"] == run_summary["metrics"] and "val/acc" in record["metrics"]
        assert f"seed={run_summary['config']['seed']}" in record["overrides"]


@pytest.mark.slow
def test_torchrun_starts_the_same_command_as_ddp_processes(train_script, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"  # every rank composes its own config: give them one run directory
    result = train_script(
        ["trainer=ddp_cpu", f"hydra.run.dir={run_dir}"],
        runner=("-m", "torch.distributed.run", "--nproc_per_node=2"),
    )
    assert result.returncode == 0, result.log
    assert "All distributed processes registered. Starting with 2 processes" in result.stdout + result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_steps"] == 4  # 256 examples / batch 32 / 2 processes


@pytest.mark.slow
def test_processes_started_by_slurm_train_as_one_ddp_run(train_script, tmp_path: Path) -> None:
    """What `srun --ntasks-per-node=2 python train.py trainer=ddp_cpu` starts: Lightning takes the ranks
    from SLURM's variables and launches no processes of its own."""
    with socket.socket() as probe:  # a free port for the process group
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    slurm = {
        "SLURM_NTASKS": "2",
        "SLURM_NTASKS_PER_NODE": "2",
        "SLURM_NNODES": "1",
        "SLURM_NODEID": "0",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "train",
        "SLURM_NODELIST": "127.0.0.1",
        "MASTER_PORT": str(port),
    }
    run_dir = tmp_path / "run"
    with ThreadPoolExecutor(max_workers=2) as pool:
        tasks = [
            pool.submit(
                train_script,
                ["trainer=ddp_cpu", f"hydra.run.dir={run_dir}"],
                env={**slurm, "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank)},
            )
            for rank in (0, 1)
        ]
        results = [task.result() for task in tasks]
    for result in results:
        assert result.returncode == 0, result.log
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in results[1].stdout + results[1].stderr
    assert json.loads((run_dir / "summary.json").read_text())["global_steps"] == 4
    assert not list(run_dir.glob("train_ddp_process_*.log"))  # Lightning spawned nothing itself
