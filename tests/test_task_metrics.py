"""The metrics a task promises, through train.py: the data config decides them (issue 13, item 9).

DialogSum declares summarization, so its runs report ROUGE besides BLEU/chrF (Multi30k, a translation,
does not); a character tokenizer makes a language model report bits per character.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nlpzoo.data.language_modeling import is_character_level
from nlpzoo.tokenizers import CharTokenizer, WordTokenizer
from tests.conftest import compose_config
from tests.tiny_transformers import tiny_overrides

QUIET = ["trainer.enable_progress_bar=false", "callbacks.rich_progress_bar=null", "logger=csv"]
SHORT = ["trainer.max_epochs=1", "trainer.max_steps=3", *QUIET]
SEQ2SEQ_SLICE = [
    "data.max_train_samples=48",
    "data.max_val_samples=8",
    "data.max_test_samples=8",
    "data.batch_size=16",
    "data.max_length=96",
    "data.max_target_length=24",
    *SHORT,
]
TINY_SEQ2SEQ = ["model=seq2seq_attention", "tokenizer=word", "model.embedding_dim=16", "model.hidden_size=16"]
ROUGE = {"test/rouge1", "test/rouge2", "test/rougeL", "val/rouge1"}
LM_SLICE = [
    "data=tinyshakespeare",
    "data.block_size=32",
    "data.max_train_samples=400",
    "data.max_val_samples=60",
    "data.max_test_samples=60",
    "model=lstm",
    "model.bidirectional=false",
    "model.embedding_dim=16",
    "model.hidden_size=16",
    *SHORT,
    "trainer.max_steps=-1",  # the whole (small) epoch, so validation runs and early stopping has its metric
]


def train(overrides: list[str], run_dir: Path) -> dict[str, float]:
    """train.py's recipe in-process; the run summary's metrics."""
    from nlpzoo.training import run_training

    return run_training(compose_config(overrides, run_dir))["metrics"]


@pytest.mark.parametrize(
    "family",
    [
        TINY_SEQ2SEQ,
        # A pretrained-architecture summarizer (BART from a tiny config) on the same word vocabulary.
        [
            "model=bart",
            *tiny_overrides("bart"),
            "tokenizer=word",
            "model.generation.max_new_tokens=12",
            "model.optimizer.fused=false",
        ],
    ],
    ids=["seq2seq_attention", "bart"],
)
def test_summarization_reports_rouge(family: list[str], tmp_path: Path, shared_data: Path) -> None:
    metrics = train(
        ["data=dialogsum", f"data.path={shared_data / 'dialogsum'}", *family, *SEQ2SEQ_SLICE],
        tmp_path / "run",
    )
    assert metrics.keys() >= ROUGE
    assert {"test/bleu", "test/chrf"} <= metrics.keys()
    assert all(0.0 <= metrics[name] <= 1.0 for name in ROUGE)


def test_translation_reports_bleu_and_chrf_without_rouge(tmp_path: Path, shared_data: Path) -> None:
    metrics = train(
        [
            "experiment=multi30k_attention",
            f"data.path={shared_data / 'multi30k'}",
            "data.target_tokenizer=null",
            *TINY_SEQ2SEQ[2:],
            *SEQ2SEQ_SLICE,
        ],
        tmp_path / "run",
    )
    assert {"test/bleu", "test/chrf"} <= metrics.keys()
    assert not any("rouge" in name for name in metrics)


def test_character_language_model_reports_bits_per_character(tmp_path: Path, shared_data: Path) -> None:
    data = f"data.path={shared_data / 'tinyshakespeare' / 'input.txt'}"
    metrics = train([*LM_SLICE, data, "tokenizer=char"], tmp_path / "char")
    assert metrics["test/bpc"] == pytest.approx(
        math.log2(metrics["test/ppl"]), rel=1e-4
    )  # per token = per char

    words = train([*LM_SLICE, data, "tokenizer=word"], tmp_path / "word")
    assert "test/ppl" in words and not any(name.endswith("/bpc") for name in words)


def test_character_level_is_read_from_the_vocabulary() -> None:
    text = ["To be, or not to be: that is the question.\n"]
    assert is_character_level(CharTokenizer().build(text))
    assert not is_character_level(WordTokenizer().build(text))
