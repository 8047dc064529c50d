"""The five entrypoints as a user types them: `--help` without the heavy libraries, one `nlpzoo: error:`
line for a user's mistake, the same `data.KEY=VALUE` grammar and run directories everywhere."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, compose_config, python

ENTRYPOINTS = ["train.py", "eval.py", "predict.py", "export.py", "serve.py"]
HEAVY = [
    "torch",
    "lightning",
    "transformers",
    "datasets",
    "onnx",
    "onnxruntime",
    "litserve",
    "mlflow",
    "numba",
    "wandb",
]
# Runs an entrypoint as `python SCRIPT ARGS` would, then says which heavy libraries it imported.
IMPORTS_OF = """
import json, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print(json.dumps(sorted(name for name in {heavy} if name in sys.modules)), file=sys.stderr)
"""


def run(*command: str, timeout: int = 300) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "PYTHONPATH": str(ROOT / "src"),
    }
    return subprocess.run(
        [python(), *command], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("script", ENTRYPOINTS)
def test_help_imports_none_of_the_heavy_libraries(script: str) -> None:
    result = run("-c", IMPORTS_OF.format(heavy=HEAVY), script, "--help")
    assert "Powered by Hydra" in result.stdout, result.stderr[-2000:]
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("script", ["predict.py", "export.py", "serve.py"])
def test_a_missing_required_value_is_one_error_line_before_any_heavy_import(script: str) -> None:
    result = run("-c", IMPORTS_OF.format(heavy=HEAVY), script)
    *message, imported = result.stderr.strip().splitlines()
    needed = (
        "input is required: add input=..."  # ckpt_path=... or model=NAME: run_prediction says which
        if script == "predict.py"
        else ("ckpt_path is required: add ckpt_path=...")
    )
    assert message == [f"nlpzoo: error: {needed}"]
    assert json.loads(imported) == []


def test_a_pretrained_tokenizer_without_a_name_asks_for_tokenizer_name_or_path() -> None:
    result = run("train.py", "tokenizer=pretrained")
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("nlpzoo: error: tokenizer=pretrained needs tokenizer.name_or_path=NAME_OR_DIR")


@pytest.mark.parametrize("script", ["eval.py", "predict.py", "export.py", "serve.py"])
def test_a_missing_checkpoint_is_one_error_line_not_a_traceback(script: str, tmp_path: Path) -> None:
    given = ["input=a text"] if script == "predict.py" else []
    result = run(script, f"ckpt_path={tmp_path / 'missing'}", *given, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert (
        f"nlpzoo: error: {tmp_path / 'missing'}: no such checkpoint file or run directory"
        in result.stderr.splitlines()
    )


def test_export_takes_a_run_directory_as_eval_and_predict_do(
    tiny_lstm_checkpoint: Path, tmp_path: Path
) -> None:
    from nlpzoo.export.pipeline import run_export

    run_dir = tiny_lstm_checkpoint.parent.parent  # RUN_DIR/checkpoints/best-*.ckpt
    report = run_export(
        compose_config(
            [f"ckpt_path={run_dir}", "data.max_val_samples=32", "parity_examples=8"],
            tmp_path / "export",
            config_name="export",
        )
    )
    assert report["checkpoint"] == str(tiny_lstm_checkpoint)  # its best checkpoint, where serve.py looks
    assert report["export_dir"] == str(tiny_lstm_checkpoint.with_suffix(".export"))
    assert report["reference_profile"]["examples"] == 32  # data.max_val_samples= without a `+`


NOISE = [
    '.fit(ckpt_path="last") is set, but there is no last checkpoint',
    ".fit(ckpt_path=None)` was called without a model",
    "Trainable params: 0 ",
    "The anonymous setting has no effect",
    "try installing [litlogger]",
    "INFO: ",  # Lightning's own console handler, printing every message a second time
]


@pytest.mark.slow  # a real run each, about 1.5 min on the shared 2-core machine
@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(["logger=wandb"], id="sst2_lstm_wandb"),
        pytest.param(
            [
                "experiment=text8_word2vec",
                "debug=limit",
                "trainer.max_epochs=1",
                "callbacks.rich_progress_bar=null",
            ],
            id="text8_word2vec",
        ),
    ],
)
def test_a_clean_run_prints_none_of_the_known_noise(overrides: list[str], train_script) -> None:
    result = train_script(overrides, tiny=overrides[0] == "logger=wandb")
    assert result.returncode == 0, result.log
    output = result.stdout + result.stderr
    assert "Trainable params:" in output and "summary:" in output
    assert [noise for noise in NOISE if noise in output] == [], result.log


def test_make_help_lists_the_targets() -> None:
    result = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.strip().startswith("make ")]
    assert listed == ["help", "setup", "train", "lint", "test", "test-slow", "clean", "results"]


def test_package_metadata_builds_without_the_license_deprecation(tmp_path: Path) -> None:
    """pyproject's `license` is an SPDX string: setuptools' "TOML table is deprecated" warning is gone."""
    build = "import sys; from setuptools import build_meta; build_meta.prepare_metadata_for_build_wheel(sys.argv[1])"
    result = run("-W", "always", "-c", build, str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "project.license` as a TOML table is deprecated" not in result.stderr
    (metadata,) = tmp_path.glob("*.dist-info/METADATA")
    assert "License-Expression: Apache-2.0" in metadata.read_text()
