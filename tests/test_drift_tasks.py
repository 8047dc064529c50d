"""Drift monitoring of every served kind beyond classification: export.py writes the reference profile beside
the model, and the server's API (the worker's code, without HTTP) scores live requests against it: an
in-distribution stream raises no alarm, a shifted one does."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from nlpzoo.export.runtime import PROFILE_FILE
from nlpzoo.serve.api import PredictorAPI, checkpoint_kind
from nlpzoo.serve.drift import DriftMonitor, ReferenceProfile
from nlpzoo.serve.drift_statistics import KIND_STATISTICS, NO_ANSWER, categories, request_statistics
from nlpzoo.tasks import TaskKind, TaskSpec
from tests.conftest import compose_config
from tests.test_export_tasks import conll_sentences
from tests.test_serve import sst2_dev

WINDOW = 200


def squad_rows(shared_data: Path) -> list[dict[str, str]]:
    """Every SQuAD dev question with its context."""
    articles = json.loads((shared_data / "squad" / "dev-v1.1.json").read_text())["data"]
    return [
        {"question": qa["question"], "context": paragraph["context"]}
        for article in articles
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]


def streams(recipe: str, shared_data: Path) -> tuple[list[Any], list[Any]]:
    """(in-distribution, shifted) requests of `recipe`'s kind, as the API's request decoder gives them."""
    if recipe.startswith("tag_"):  # CoNLL testb news vs lower-cased movie reviews
        return conll_sentences(shared_data, WINDOW), sst2_dev(shared_data)[:WINDOW]
    if recipe.startswith("qa_"):  # SQuAD's last questions vs the same questions over one-sentence contexts
        rows = [row for row in squad_rows(shared_data) if len(row["context"]) <= 1500][-WINDOW:]
        shifted = [
            {"question": row["question"], "context": text}
            for row, text in zip(rows, sst2_dev(shared_data), strict=False)
        ]
        return rows, shifted
    if recipe == "lm_gpt":  # Shakespeare's lines vs movie reviews (longer, and lower-cased)
        lines = (shared_data / "tinyshakespeare" / "input.txt").read_text().splitlines()
        # The validation lines (the last 4000, where export.py took its prompts), other ones of them.
        lines = [line for line in lines[-4000:] if line.strip()]
        lines = lines[len(lines) // WINDOW // 2 :: len(lines) // WINDOW][:WINDOW]
        return [(line, None) for line in lines], [(t, None) for t in sst2_dev(shared_data)[:WINDOW]]
    # German validation sources past the 600 export.py measured vs English news
    with gzip.open(shared_data / "multi30k" / "val.de.gz", "rt", encoding="utf-8") as file:
        german = [line.strip() for line in file][600 : 600 + WINDOW]
    return [(t, None) for t in german], [(t, None) for t in conll_sentences(shared_data, WINDOW)]


def drift_after(api: PredictorAPI, requests: list[Any]) -> dict[str, Any]:
    """The drift report once `requests` went through the worker's `predict` in batches of 16."""
    for start in range(0, len(requests), 16):
        answers = api.predict(requests[start : start + 16])
        assert all(isinstance(answer, dict) for answer in answers), answers
    return api.shared["metrics"]["drift"]


# (recipe, validation examples the profile is measured on)
RECIPES = [("tag_bilstm_crf", 600), ("qa_encoder", 300), ("lm_gpt", "null"), ("seq2seq_attention", 600)]


@pytest.mark.parametrize(("recipe", "examples"), RECIPES)
def test_a_shifted_stream_raises_the_drift_alarm_and_an_in_distribution_one_does_not(
    recipe: str, examples: int | str, task_run, shared_data: Path, tmp_path: Path
) -> None:
    from nlpzoo.export.pipeline import run_export

    checkpoint = task_run(recipe)["best_checkpoint"]
    folder = tmp_path / "export"
    overrides = [f"ckpt_path={checkpoint}", f"export_dir={folder}", f"data.max_val_samples={examples}"]
    report = run_export(compose_config(overrides, tmp_path / "run", config_name="export"))
    kind = checkpoint_kind(checkpoint)
    profile = json.loads((folder / PROFILE_FILE).read_text())
    assert list(profile["shares"]) == list(KIND_STATISTICS[kind])
    assert report["reference_profile"]["examples"] == profile["examples"] >= WINDOW

    in_distribution, shifted = streams(recipe, shared_data)
    drift = {"enabled": True, "window": WINDOW, "min_samples": WINDOW, "thresholds": {}}
    backend = "torch" if recipe in ("lm_gpt", "seq2seq_attention") else "onnx"
    api = PredictorAPI(str(checkpoint), kind, backend, str(folder), {}, 16, 0.0, threads=1, drift=drift)
    api.setup("cpu")
    calm = drift_after(api, in_distribution)
    assert calm["window"] == WINDOW and set(calm["statistics"]) == set(KIND_STATISTICS[kind])
    assert calm["drifted"] == [], calm
    alarmed = drift_after(api, shifted)
    assert alarmed["drifted"], alarmed
    for name in alarmed["drifted"]:
        assert alarmed["statistics"][name]["psi"] > alarmed["statistics"][name]["threshold"]


def test_request_statistics_read_each_kind_from_its_predictions() -> None:
    tags = TaskSpec(
        TaskKind.TOKEN_CLASSIFICATION, 50, label_names=["O", "B-LOC", "I-LOC", "B-PER"], unk_token_id=1
    )
    entities = [{"type": "PER"}, {"type": "LOC"}, {"type": "PER"}]
    tagged = request_statistics(tags, [[5, 1, 7, 1], [6]], [{"entities": entities}, {"entities": []}])
    assert categories(tags) == {"entity_type": ["LOC", "PER"]}
    assert tagged == {"input_length": [4.0, 1.0], "unknown_rate": [0.5, 0.0], "entity_type": [[1, 0, 1], []]}

    qa = TaskSpec(TaskKind.EXTRACTIVE_QA, 50)
    answers = [{"answer": "the Broncos", "score": 3.0}, {"answer": "", "score": None}]
    assert request_statistics(qa, [], answers) == {"answer_length": [2.0, 0.0], "no_answer": [[0], [1]]}

    lm = TaskSpec(TaskKind.LANGUAGE_MODELING, 50, unk_token_id=1)
    generated = request_statistics(lm, [[1, 2]], [{"generated": "to be or not to be"}])
    assert generated["output_length"] == [6.0] and generated["repetition_rate"] == [pytest.approx(2 / 6)]
    assert generated["unknown_rate"] == [0.5]


def test_a_category_never_seen_live_is_drift_and_the_profile_round_trips(tmp_path: Path) -> None:
    reference = {
        "answer_length": [float(i % 7) for i in range(300)],
        "no_answer": [[int(i % 10 == 0)] for i in range(300)],
    }
    profile = ReferenceProfile.from_statistics(reference, {"no_answer": NO_ANSWER})
    profile.save(tmp_path / PROFILE_FILE)
    monitor = DriftMonitor(ReferenceProfile.load(tmp_path / PROFILE_FILE), 100, {"no_answer": 0.3}, 100)
    monitor.update(
        {"answer_length": reference["answer_length"][:100], "no_answer": reference["no_answer"][:100]}
    )
    assert monitor.report()["drifted"] == []
    monitor.update({"answer_length": [3.0] * 100, "no_answer": [[1]] * 100})  # every question unanswered
    report = monitor.report()
    assert (
        report["drifted"] == ["answer_length", "no_answer"]
        and report["statistics"]["no_answer"]["threshold"] == 0.3
    )
