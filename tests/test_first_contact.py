"""What a new user types first works as typed: train.py's own defaults, a pretrained family alone, sweeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlpzoo.errors import ConfigError
from tests.conftest import ROOT, compose_config

SLICE = [
    "data.max_train_samples=64",
    "data.max_val_samples=16",
    "data.max_test_samples=16",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
]


def test_train_py_alone_is_the_sst2_bilstm_on_the_local_copy(tmp_path: Path, shared_data: Path) -> None:
    """No experiment leaks into a run that names none: its own defaults (data, tokenizer, model) hold."""
    cfg = compose_config([], tmp_path)
    assert cfg.task_name == "train"
    assert cfg.tokenizer._target_.endswith("WordTokenizer") and cfg.model._target_.endswith("RecurrentModel")
    assert Path(cfg.data.path).resolve() == (shared_data / "sst2").resolve()
    assert cfg.trainer.gradient_clip_val is not None and cfg.callbacks.early_stopping is not None


def test_a_data_config_without_its_local_copy_reads_its_hub_source(tmp_path: Path) -> None:
    cfg = compose_config([f"paths.data_dir={tmp_path / 'elsewhere'}"], tmp_path)
    assert cfg.data.path is None and cfg.data.source == "stanfordnlp/sst2"


def test_a_pretrained_family_brings_its_own_tokenizer(tmp_path: Path) -> None:
    cfg = compose_config(["model=minilm"], tmp_path)
    assert cfg.tokenizer._target_.endswith("PretrainedTokenizer")
    assert cfg.tokenizer.name_or_path == cfg.model.pretrained
    chosen = compose_config(["model=minilm", "tokenizer=word"], tmp_path)  # an explicit choice still wins ...
    assert chosen.tokenizer._target_.endswith(
        "WordTokenizer"
    )  # ... and is refused at start (test_config_errors)


def test_model_minilm_alone_trains(train_run) -> None:
    """`python train.py model=minilm`: the real MiniLM with its WordPiece vocabulary, nothing else named."""
    summary = train_run(["model=minilm", "debug=fdr", *SLICE], tiny=False)
    assert summary["global_steps"] == 1
    tokenizer_config = json.loads(
        (Path(summary["output_dir"]) / "tokenizer" / "tokenizer_config.json").read_text()
    )
    assert tokenizer_config["tokenizer_class"] == "BertTokenizer"


def test_a_pretrained_tokenizer_without_a_name_says_which_key_to_set(tmp_path: Path) -> None:
    from nlpzoo.training import run_training

    with pytest.raises(ConfigError, match=r"tokenizer\.name_or_path="):
        run_training(compose_config(["tokenizer=pretrained", *SLICE], tmp_path))


@pytest.mark.slow
def test_an_optuna_sweep_runs_as_typed_from_any_directory(tmp_path: Path, shared_data: Path) -> None:
    """No storage or log-dir overrides: the study and the runs go under the directory it was started in."""
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "hparams_search=sst2_lstm",
        "hydra.sweeper.n_trials=2",
        "debug=fdr",
        *SLICE,
    ]
    environment = {**os.environ, "NLPZOO_DATA_DIR": str(shared_data)}
    result = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "logs" / "optuna" / "sst2_lstm.db").is_file()
    (summary,) = (tmp_path / "logs" / "sst2_lstm" / "multiruns").glob("*/multirun_summary.json")
    assert [record["status"] for record in json.loads(summary.read_text())["records"]] == ["completed"] * 2


def test_recipes_ask_for_bf16_only_where_the_cpu_computes_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On an AVX2-only CPU (oneDNN capped there) bf16 would be emulated ~10x slower: the recipe trains in fp32."""
    from nlpzoo.config import native_or_fp32

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert native_or_fp32("bf16-mixed") == "32-true"
    assert compose_config(["experiment=multi30k_transformer"], tmp_path).trainer.precision == "32-true"
