"""The from-scratch experiment recipes compose and run one step on real slices (their full runs are
reported in the README); the BiLSTM-CRF one also checks that character ids reach the model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nlpzoo.training import run_training
from tests.conftest import compose_config

TINY = [
    "debug=fdr",
    "data.max_train_samples=64",
    "data.max_val_samples=16",
    "data.max_test_samples=16",
    "data.batch_size=8",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
]
EXPERIMENTS = {
    "conll_bilstm_crf": ["model.embedding_dim=16", "model.hidden_size=16"],
    "multi30k_attention": ["model.embedding_dim=16", "model.hidden_size=16"],
    "multi30k_transformer": [
        "model.dim=32",
        "model.encoder_layers=1",
        "model.decoder_layers=1",
        "model.beam_size=2",
    ],
    "shakespeare_gpt": ["model.layers=1", "data.eval_batch_size=8"],
}


@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_experiment_runs_one_step(experiment: str, tmp_path: Path, shared_data: Path) -> None:
    overrides = [f"experiment={experiment}", f"paths.data_dir={shared_data}", *TINY, *EXPERIMENTS[experiment]]
    threads = torch.get_num_threads()
    try:
        summary = run_training(compose_config(overrides, tmp_path / "run"))
    finally:
        torch.set_num_threads(threads)  # the recipe's `threads` would outlive it in this test process
    assert summary["global_steps"] == 1 and "val/loss" in summary["metrics"]
    if experiment == "shakespeare_gpt":
        assert summary["hardware"]["torch_threads"] == 1  # the recipe trains on one thread


def test_conll_data_serves_character_ids_of_each_word(tmp_path: Path, shared_data: Path) -> None:
    from nlpzoo.training import build_datamodule

    cfg = compose_config(
        [
            "data=conll2003",
            f"data.path={shared_data / 'conll2003'}",
            "data.max_word_chars=5",
            "data.max_train_samples=16",
            "tokenizer.lowercase=false",
        ],
        tmp_path / "run",
    )
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    chars = batch["char_ids"]  # (B, T, 5)
    assert chars.shape == (*batch["input_ids"].shape, 5)
    row = 0
    for position, token in enumerate(datamodule.tokenizer.convert_ids_to_tokens(batch["input_ids"][row])):
        if batch["attention_mask"][row, position] and token != "[UNK]":
            expected = [ord(c) for c in token[:5]]
            assert chars[row, position, : len(expected)].tolist() == expected


def test_multi30k_transformer_is_the_size_of_its_reference(tmp_path: Path, shared_data: Path) -> None:
    """bentrevett/pytorch-seq2seq notebook 6 reports 9,038,341 parameters on the same training split."""
    from nlpzoo.training import build_datamodule, build_model

    cfg = compose_config(
        ["experiment=multi30k_transformer", f"paths.data_dir={shared_data}"], tmp_path / "run"
    )
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    model = build_model(cfg, datamodule)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(9_038_341, rel=0.005)
    assert (
        model.net.lm_head.weight is not model.net.target_embeddings.tokens.weight
    )  # untied, as the notebook
    assert model.net.target_embeddings.scale == pytest.approx(
        16.0
    )  # tokens * sqrt(256) next to learned positions
