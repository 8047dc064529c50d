"""End to end: the recurrent family learns SST-2 sentiment through the real training recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_each_recurrent_cell_trains_and_writes_a_summary(train_run, model: str, tmp_path: Path) -> None:
    summary = train_run([f"model={model}"])
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written["metrics"].keys() >= {"val/acc", "val/loss", "test/acc", "test/loss"}
    assert 0.0 <= written["metrics"]["test/acc"] <= 1.0
    assert written["config"]["model"]["cell"] == model
    assert Path(summary["best_checkpoint"]).is_file()
    assert summary["throughput"]["train_examples_per_second"] > 0
