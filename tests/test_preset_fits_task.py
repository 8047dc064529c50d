"""A family's preset fits every task it claims: where only one setting can work the preflight sets it
(and logs it), otherwise it fails before any data is read with the exact override to type."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nlpzoo.errors import ConfigError
from nlpzoo.training import preflight, run_training
from tests.conftest import SHARED_DATA, compose_config

MISSING = "data.path=/nonexistent/data"  # a run that read its data would fail on this path instead

# (overrides, config key, the value the preflight sets, what the log says)
FITTED = [
    (["data=wikitext2", "model=gru"], "model.bidirectional", False, "model.bidirectional=false"),
    (["data=tinyshakespeare", "model=lstm"], "model.bidirectional", False, "reads left to right"),
    (["data=conll2003", "model=bilstm_crf"], "data.max_word_chars", 20, "data.max_word_chars=20"),
    (
        ["data=text8_head500", "model=glove"],
        "data.batch_format",
        "cooccurrence",
        "data.batch_format=cooccurrence",
    ),
    (
        ["data=text8_head500", "model=fasttext"],
        "trainer.gradient_clip_val",
        None,
        "trainer.gradient_clip_val=null",
    ),
    (["data=text8_head500", "model=glove"], "trainer.gradient_clip_val", None, "'glove' updates its vectors"),
]
# (overrides, the message, which names the override that fixes it)
REFUSED = [
    (["data=sst2", "model=bilstm_crf"], "add model.crf=false model.char_features=false"),
    (["data=sick", "model=transformer_encoder", "model.crf=true"], "not nli: add model.crf=false"),
    (
        ["data=sick", "data.pair_encoding=bi", "model=gpt2", "model.from_config=true"],
        "use data.pair_encoding=cross",
    ),
    (
        ["data=sst2", "model=minilm", "model.layer_lr_decay=1.5"],
        r"model.layer_lr_decay=1.5 must be in \(0, 1\]",
    ),
    (
        ["data=sst2", "model=bert", "model.from_config=true", "model.model_type=bertt"],
        "'bertt' is not a transformers",
    ),
]


@pytest.mark.parametrize(("overrides", "key", "value", "logged"), FITTED, ids=lambda v: str(v))
def test_preflight_fits_the_preset_to_the_task_and_says_so(
    overrides: list[str],
    key: str,
    value: object,
    logged: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = compose_config([*overrides, MISSING], tmp_path)
    with caplog.at_level(logging.INFO):
        preflight(cfg)
    section, name = key.split(".")
    assert cfg[section][name] == value
    assert logged in caplog.text


@pytest.mark.parametrize(("overrides", "message"), REFUSED, ids=lambda v: str(v))
def test_impossible_option_fails_before_data_naming_the_override(
    overrides: list[str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        run_training(compose_config([*overrides, MISSING], tmp_path))


def test_bilstm_crf_tags_conll_with_character_features_as_typed(tmp_path: Path) -> None:
    overrides = [
        "data=conll2003",
        f"data.path={SHARED_DATA / 'conll2003'}",
        "model=bilstm_crf",
        "debug=fdr",
        "data.max_train_samples=64",
        "data.max_val_samples=16",
        "data.max_test_samples=16",
        "data.batch_size=8",
        "model.embedding_dim=16",
        "model.hidden_size=16",
        "trainer.enable_progress_bar=false",
        "callbacks.rich_progress_bar=null",
    ]
    summary = run_training(compose_config(overrides, tmp_path / "run"))
    assert summary["global_steps"] == 1 and "val/f1" in summary["metrics"]
