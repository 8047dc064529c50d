"""Every recipe under conf/experiment composes and passes the pre-flight checks, as `train.py experiment=NAME` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpzoo.training import preflight
from tests.conftest import CONF, compose_config

EXPERIMENTS = sorted(path.stem for path in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_file_composes_and_passes_preflight(name: str, tmp_path: Path) -> None:
    cfg = compose_config([f"experiment={name}"], tmp_path)
    preflight(cfg)  # model x task, monitor, scheduler and config keys: fails naming the problem
    assert cfg.task_name, f"experiment {name} names no task_name (its run directory)"
