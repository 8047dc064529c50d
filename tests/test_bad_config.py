"""Bad config fails through the real entrypoint, before any data is read, naming the key and the
valid choices."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults import ROOT, environment

CASES = {
    "unknown key": (["model.hiden_size=8"], ["model.hiden_size", "+model.hiden_size=8"]),
    "unknown key appended": (
        ["+model.hiden_size=8"],
        ["unknown config key 'model.hiden_size'", "valid keys:", "hidden_size", "embedding_dim"],
    ),
    "wrong type": (["model.hidden_size=big"], ["'model.hidden_size' = 'big'", "wrong type", "int"]),
    "not one of the choices": (["model.cell=transformer"], ["'model.cell' = 'transformer'", "'rnn', 'lstm', 'gru'"]),
    "unknown group option": (["model=lstmm"], ["model/lstmm", "Available options in 'model'", "gru", "lstm", "rnn"]),
    "unknown callback option": (
        ["callbacks.non_finite_loss.action=explode"],
        ["'callbacks.non_finite_loss.action' = 'explode'", "'stop', 'skip'"],
    ),
    "unknown trainer key": (["+trainer.max_epoch=3"], ["unknown config key 'trainer.max_epoch'", "max_epochs"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_fails_fast_naming_the_key_and_the_choices(case: str, tmp_path: Path, shared_data: Path) -> None:
    overrides, expected = CASES[case]
    run_dir = tmp_path / "run"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "train.py", f"data.path={shared_data / 'sst2'}", f"hydra.run.dir={run_dir}", *overrides],
        cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    for text in expected:
        assert text in result.stderr, result.stderr[-2000:]
    assert "tokenizing" not in result.stderr + result.stdout  # no data was read
    assert not (run_dir / "checkpoints").exists()
    assert elapsed < 60, f"took {elapsed:.0f} s to fail"  # interpreter start-up dominates; 2 shared cores
