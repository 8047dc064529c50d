"""Bad configs and bad data fail at start, through the real entrypoint, with a message naming the problem."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, python


def run_train(*overrides: str, tmp_path: Path) -> tuple[int, str, float]:
    """`python train.py OVERRIDES` (train.py's defaults: the SST-2 BiLSTM)."""
    started = time.monotonic()
    result = subprocess.run(
        [python(), "train.py", *overrides, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["model.hiden_size=3"],
            ["Could not override 'model.hiden_size'", "Key 'hiden_size' is not in struct"],
        ),
        (["model=lsmt"], ["Could not find 'model/lsmt'", "lstm", "gru", "rnn"]),
        (["model.hidden_size=big"], ["config key 'model.hidden_size' = 'big' has the wrong type", "int"]),
        (["+model.hiden_size=3"], ["unknown config key 'model.hiden_size'", "valid keys:", "hidden_size"]),
        (["model.cell=transformer"], ["model.cell", "'transformer'", "'rnn', 'lstm', 'gru'"]),
        (
            ["callbacks.non_finite_loss.action=explode"],
            ["callbacks.non_finite_loss.action", "'stop', 'skip'"],
        ),
        (["threads=-1"], ["threads=-1 must be a whole number >= 0"]),
        (["+trainer.max_epoch=3"], ["unknown config key 'trainer.max_epoch'", "max_epochs"]),
        (
            ["model=gpt"],
            ["model family 'gpt' cannot serve task 'text_classification'", "serves: language_modeling"],
        ),
        (["model=minilm", "tokenizer=word"], ["has a pretrained vocabulary", "use tokenizer=pretrained"]),
    ],
)
def test_bad_config_fails_in_seconds_naming_the_key(
    overrides: list[str], expected: list[str], tmp_path: Path
) -> None:
    code, output, _ = run_train(*overrides, tmp_path=tmp_path)
    assert code != 0
    for text in expected:
        assert text in output, output[-2000:]
    assert "Traceback" not in output  # a message, not a crash dump


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"train.tsv": ""}, "data file is empty"),
        ({"train.tsv": "label\ttext\n1\tgood\n0\tbad\n"}, r"text column ['sentence', 'content'] not found"),
    ],
)
def test_bad_data_file_fails_naming_file_and_problem(
    files: dict[str, str], expected: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, content in files.items():
        (data / name).write_text(content)
    code, output, _ = run_train(f"data.path={data}", tmp_path=tmp_path)
    assert code != 0
    assert expected in output, output[-2000:]
    assert str(data) in output
