"""Shared test fixtures: where the real data lies, and running the real entrypoint on tiny configs."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

import nlpzoo.config  # noqa: F401  (registers resolvers)
from tests import prewarmed

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED_DATA = Path(os.environ.get("NLPZOO_DATA_DIR", ROOT.parent / "shared" / "data")).resolve()

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The runs tests start as subprocesses share the cores with the other test workers: OpenMP threads that
# spin while they wait would take turns with the other processes' (a multi30k_transformer step took 12-17 s
# instead of 3.1 s on 2 shared cores, measured), so they sleep instead. Alone on a machine, spinning is faster
# (a 0.8 M-parameter GPT step: 29 vs 53 ms on 2 threads), which is why the product leaves OpenMP's default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# One intra-op thread: on a shared 2-core machine, 2 OpenMP threads per test process spin against
# other processes and made a tiny LSTM step ~100x slower (measured). NLPZOO_TEST_THREADS overrides.
torch.set_num_threads(int(os.environ.get("NLPZOO_TEST_THREADS", "1")))


@functools.cache
def python() -> str:
    """The `python` the suite's commands run: a fork of a server that pre-imported the third-party stack
    (tests/prewarmed.py; 8-12 s less a command), or a fresh interpreter with NLPZOO_TEST_FRESH_PYTHON=1."""
    if os.environ.get("NLPZOO_TEST_FRESH_PYTHON") == "1":
        return sys.executable
    directory = tempfile.mkdtemp(prefix="nlpzoo-prewarmed-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return prewarmed.start(directory)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: real datasets, read-only."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}; set NLPZOO_DATA_DIR")
    return SHARED_DATA


def compose_config(overrides: list[str], output_dir: Path, config_name: str = "train") -> DictConfig:
    """The config `train.py` would see for these overrides, with the run directory in `output_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    OmegaConf.set_readonly(cfg.hydra, False)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.log_dir = str(output_dir / "logs")
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(ROOT)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # train.py's config has no `hydra` key; HydraConfig holds it
    return cfg


# Tiny, fast settings every end-to-end test starts from: a slice of SST-2, one short epoch,
# no rich progress bar (it fights pytest's output capture).
TINY = [
    # train.py's own defaults: the BiLSTM on SST-2 (its local copy), with a trained word vocabulary.
    "data.max_train_samples=256",
    "data.max_val_samples=64",
    "data.max_test_samples=64",
    "data.batch_size=32",
    "model.embedding_dim=16",
    "model.hidden_size=16",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
]


@pytest.fixture
def train_run(tmp_path: Path, shared_data: Path) -> Callable[..., dict[str, Any]]:
    """Run the real training recipe in-process: `train_run(["model=gru", ...])` -> summary dict."""
    from nlpzoo.training import run_training

    def run(overrides: list[str], tiny: bool = True, output_dir: Path | None = None) -> dict[str, Any]:
        base = [*TINY, f"data.path={shared_data / 'sst2'}"] if tiny else []
        cfg = compose_config([*base, *overrides], output_dir or tmp_path / "run")
        return run_training(cfg)

    return run


@pytest.fixture
def train_script(tmp_path: Path, shared_data: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run `python train.py ARGS` in a subprocess at the repository root, as a user does.

    Multirun sweeps, DDP workers and launchers need a real process; logs go under tmp_path.
    `runner` goes between python and train.py, e.g. ("-m", "torch.distributed.run", "--nproc_per_node=2").
    """

    def run(
        overrides: list[str],
        flags: tuple[str, ...] = (),
        tiny: bool = True,
        timeout: int = 600,
        env: dict[str, str] | None = None,
        runner: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess:
        base = [*TINY, f"data.path={shared_data / 'sst2'}"] if tiny else []
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
            **(env or {}),
        }
        # flags (-m, --cfg job) first: Hydra's parser wants the overrides together; the test's win
        command = [
            python(),
            *runner,
            "train.py",
            *flags,
            *base,
            f"paths.log_dir={tmp_path / 'logs'}",
            *overrides,
        ]
        result = subprocess.run(
            command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout
        )
        result.log = f"$ {' '.join(command)}\n{result.stdout}\n{result.stderr}"[
            -6000:
        ]  # for assertion messages
        return result

    return run


@pytest.fixture(scope="session")
def tiny_lstm_checkpoint(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A tiny BiLSTM trained on a slice of SST-2 through the real recipe, once per session (best checkpoint)."""
    from nlpzoo.training import run_training

    output_dir = tmp_path_factory.mktemp("tiny_lstm")
    overrides = [*TINY, f"data.path={shared_data / 'sst2'}", "data.max_train_samples=512"]
    summary = run_training(compose_config(overrides, output_dir))
    return Path(summary["best_checkpoint"])


@pytest.fixture(scope="session")
def exported_lstm(tiny_lstm_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """export.py's recipe on the tiny checkpoint, measured (and drift-profiled) on 600 SST-2 test sentences."""
    from nlpzoo.export.pipeline import run_export

    overrides = [f"ckpt_path={tiny_lstm_checkpoint}", "split=test", "data.max_test_samples=600"]
    return run_export(compose_config(overrides, tmp_path_factory.mktemp("export"), config_name="export"))


@pytest.fixture(scope="session")
def task_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Callable[[str], dict[str, Any]]:
    """`task_run("tag_bilstm_crf")`: the summary of a tiny recipe of tests/task_checkpoints.py, trained once per session."""
    from tests.task_checkpoints import train_recipe

    summaries: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in summaries:
            summaries[name] = train_recipe(name, tmp_path_factory.mktemp(name), shared_data)
        return summaries[name]

    return get


@pytest.fixture(scope="session")
def task_export(
    task_run: Callable[[str], dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], dict[str, Any]]:
    """`task_export("qa_encoder")`: export.py's report on that recipe's checkpoint, once per session."""
    from tests.task_checkpoints import export_checkpoint

    reports: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in reports:
            reports[name] = export_checkpoint(
                task_run(name)["best_checkpoint"], tmp_path_factory.mktemp(f"{name}_export")
            )
        return reports[name]

    return get
