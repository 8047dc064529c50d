"""Multi30k BLEU as the issue defines it: sacreBLEU on detokenized output against the references as
written (`test/bleu`), BLEU on lowercased tokens (`test/bleu_tokenized`), beam search at test only."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import sacrebleu
import torch

from nlpzoo.metrics.bleu import TokenizedBleuScore
from nlpzoo.models.base import BatchDecode
from nlpzoo.tasks import build_objective
from nlpzoo.tokenizers import WordTokenizer
from nlpzoo.tokenizers.word import detokenize
from nlpzoo.training import build_datamodule
from tests.conftest import compose_config


def test_word_tokens_decode_to_text_as_written() -> None:
    tokenizer = WordTokenizer(split_punctuation=True).build(['A man\'s T-shirt (red), 5.5 ft: "Stop"!'])
    ids = tokenizer('A man\'s T-shirt (red), 5.5 ft: "Stop"!', add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == 'a man \' s t - shirt ( red ), 5 . 5 ft : " stop "!'  # punctuation runs
    assert BatchDecode(tokenizer)([ids]) == ['a man\'s t-shirt (red), 5.5 ft: "stop"!']
    assert detokenize("a man in an orange hat .") == "a man in an orange hat."
    # Whitespace-split words keep their punctuation: their decoding is the text already.
    plain = WordTokenizer(split_punctuation=False).build(["a b - c"])
    assert BatchDecode(plain)([plain("a b - c", add_special_tokens=False)["input_ids"]]) == ["a b - c"]


def test_multi30k_bleu_scores_against_the_references_as_written(shared_data: Path, tmp_path: Path) -> None:
    """The recipe's tokens are lowercased words: an output that reproduces every reference token still
    differs from the cased, punctuated reference, and test/bleu (sacreBLEU) must say so."""
    cfg = compose_config(
        [
            "experiment=multi30k_transformer",
            f"paths.data_dir={shared_data}",
            "data.max_train_samples=2000",
            "data.max_val_samples=8",
            "data.max_test_samples=8",
            "data.eval_batch_size=8",
        ],
        tmp_path / "run",
    )
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    batch = next(iter(datamodule.test_dataloader()))
    with gzip.open(shared_data / "multi30k" / "test_2016_flickr.en.gz", "rt") as lines:
        test_lines = set(lines.read().splitlines())
    written = batch["target_text"]  # e.g. "A man in an orange hat starring at something."
    assert len(written) == 8 and set(written) <= test_lines

    spec = datamodule.spec
    objective = build_objective(spec, dict(cfg.model.objective))
    objective.decode = BatchDecode(datamodule.target_tokenizer)
    labels = batch["labels"].masked_fill(batch["labels"] == -100, spec.pad_token_id)
    start = torch.full_like(labels[:, :1], spec.bos_token_id)
    outputs = {"generated_ids": torch.cat([start, labels], 1)}  # the reference tokens themselves
    outputs["beam_generated_ids"] = outputs["generated_ids"]
    metrics = objective.test_metrics().clone(prefix="test/")
    objective.update_metrics(metrics, outputs, batch)
    result = {name: float(value) for name, value in metrics.compute().items()}

    hypotheses = objective.generated_text(outputs)
    assert any(h == w.lower() for h, w in zip(hypotheses, written, strict=True))  # detokenized, lowercased
    assert result["test/bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [written]).score)
    assert result["test/bleu_beam4"] == result["test/bleu"]
    tokenized = TokenizedBleuScore()
    tokenized.update(hypotheses, written)
    assert result["test/bleu_tokenized"] == pytest.approx(float(tokenized.compute()))
    assert result["test/bleu"] < result["test/bleu_tokenized"] - 5  # casing counts in sacreBLEU
    assert "bleu_beam4" not in objective.metrics()  # validation stays greedy


def test_multi30k_recipe_reports_beam_bleu_beside_greedy_at_test(shared_data: Path, tmp_path: Path) -> None:
    from nlpzoo.training import run_training

    overrides = [
        "experiment=multi30k_transformer",
        f"paths.data_dir={shared_data}",
        "data.max_train_samples=128",
        "data.max_val_samples=8",
        "data.max_test_samples=8",
        "data.batch_size=32",
        "model.dim=32",
        "model.heads=2",
        "model.encoder_layers=1",
        "model.decoder_layers=1",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "callbacks.rich_progress_bar=null",
    ]
    metrics = run_training(compose_config(overrides, tmp_path / "run"))["metrics"]
    assert {"test/bleu", "test/bleu_tokenized", "test/bleu_beam4", "val/bleu"} <= metrics.keys()
    assert "val/bleu_beam4" not in metrics
