"""Translation from raw source text: each seq2seq family's own greedy/beam search, decoded as evaluation decodes."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
import torch

import nlpzoo
from nlpzoo.checkpoint import load_module, read_checkpoint
from nlpzoo.errors import CheckpointError, ConfigError
from nlpzoo.models import PretrainedFamily
from nlpzoo.models.base import CHECKPOINT_KEY
from nlpzoo.prediction import run_prediction
from tests.conftest import compose_config
from tests.tiny_transformers import tiny_overrides

RUN = [
    "data.max_train_samples=256",
    "data.max_val_samples=12",
    "data.max_test_samples=8",
    "data.batch_size=32",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
    "logger=csv",
]
FAMILIES = {
    # German -> English with a separate English vocabulary, as the experiments train them.
    "seq2seq_attention": ["experiment=multi30k_attention", "model.embedding_dim=16", "model.hidden_size=16"],
    "transformer": [
        "experiment=multi30k_transformer",
        "model.dim=32",
        "model.heads=2",
        "model.encoder_layers=1",
        "model.decoder_layers=1",
        "model.beam_size=2",
    ],
    # T5 from a tiny config, on one word vocabulary for both languages (a pretrained model shares one).
    "t5": [
        "data=multi30k",
        "model=t5",
        *tiny_overrides("t5"),
        "tokenizer=word",
        "model.generation.num_beams=2",
        "model.generation.max_new_tokens=12",
        "model.optimizer.fused=false",
    ],
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def seq2seq_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> tuple[Path, dict]:
    from nlpzoo.training import run_training

    run_dir = tmp_path_factory.mktemp(f"seq2seq_{request.param}") / "run"
    overrides = [
        *FAMILIES[request.param],
        f"paths.data_dir={shared_data}",
        f"data.path={shared_data / 'multi30k'}",
        *RUN,
    ]
    return run_dir, run_training(compose_config(overrides, run_dir))


def validation_sources_and_batch(checkpoint: str) -> tuple[list[str], dict, object]:
    """The validation sources as raw text, and the same sources as the DataModule batches them."""
    loaded = load_module(checkpoint)
    datamodule = hydra.utils.instantiate(loaded.data_config, tokenizer=None, _convert_="all")
    datamodule.use_tokenizer(loaded.tokenizer)
    if loaded.target_tokenizer is not None:
        datamodule.target_tokenizer = loaded.target_tokenizer
    datamodule.setup("validate")
    rows = list(datamodule.splits["validation"])
    sources = [row["de"] for row in datamodule.load_raw_splits()["validation"]]
    return sources, datamodule.collator()(rows), loaded.module


def test_translations_equal_the_familys_own_search_on_the_evaluated_batch(seq2seq_run) -> None:
    run_dir, summary = seq2seq_run
    sources, batch, module = validation_sources_and_batch(summary["best_checkpoint"])
    objective = module.objective

    # Default options: exactly what validation generated (the forward's generated_ids, scored by BLEU).
    with torch.inference_mode():
        evaluated = [p["generated"] for p in objective.predict(module(batch), batch)]
    predicted = nlpzoo.load(run_dir, batch_size=5).predict(sources)
    assert [p["generated"] for p in predicted] == evaluated
    assert any(evaluated)

    # Options from predict.py's config reach the family's own search.
    options = {"num_beams": 3, "max_new_tokens": 6}
    if isinstance(module, PretrainedFamily):
        ids = module.generate(batch["input_ids"], batch["attention_mask"], **options)
    else:
        ids = module.generate(batch, beam_size=3, max_length=6)
    beams = [p["generated"] for p in objective.predict({"generated_ids": ids}, batch)]
    assert [p["generated"] for p in nlpzoo.load(run_dir, generation=options).predict(sources)] == beams
    short = nlpzoo.load(run_dir, generation={"max_new_tokens": 2}).predict(sources)
    assert all(
        len(module.objective.decode.tokenizer(p["generated"], add_special_tokens=False)["input_ids"]) <= 2
        for p in short
    )


def test_predict_script_translates_a_file_and_refuses_options_the_family_lacks(
    seq2seq_run, tmp_path: Path
) -> None:
    run_dir, _ = seq2seq_run
    inputs = tmp_path / "german.txt"
    inputs.write_text("ein mann fährt fahrrad .\nzwei hunde spielen im schnee .\n")
    cfg = compose_config(
        [f"ckpt_path={run_dir}", f"input={inputs}", "progress=false", "generation.num_beams=2"],
        tmp_path / "p",
        config_name="predict",
    )
    lines = [json.loads(line) for line in run_prediction(cfg).read_text().splitlines()]
    expected = nlpzoo.load(run_dir, generation={"num_beams": 2}).predict(inputs.read_text().splitlines())
    assert [line["input"] for line in lines] == inputs.read_text().splitlines()
    assert [line["generated"] for line in lines] == [p["generated"] for p in expected]
    loaded = load_module(nlpzoo.prediction.find_checkpoint(run_dir))
    if not isinstance(loaded.module, PretrainedFamily):
        with pytest.raises(ConfigError, match=r"\['temperature'\] do not apply to the '\w+' family"):
            nlpzoo.load(run_dir, generation={"temperature": 0.7})


def test_a_checkpoint_without_its_target_tokenizer_is_refused(seq2seq_run, tmp_path: Path) -> None:
    checkpoint = read_checkpoint(seq2seq_run[1]["best_checkpoint"])
    if "target_tokenizer" not in checkpoint[CHECKPOINT_KEY]:
        pytest.skip("this run shares one vocabulary between source and target")
    del checkpoint[CHECKPOINT_KEY]["target_tokenizer"]  # as checkpoints were saved before they carried it
    torch.save(checkpoint, tmp_path / "old.ckpt")
    with pytest.raises(CheckpointError, match="separate target tokenizer but does not carry it"):
        nlpzoo.load(tmp_path / "old.ckpt")
