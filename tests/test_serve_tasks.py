"""The real server for taggers (ONNX), extractive QA (ONNX) and generation (PyTorch) on free loopback ports:
concurrent answers equal the prediction package's on the same inputs; bad requests get a 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import nlpzoo
from nlpzoo.errors import ConfigError
from nlpzoo.serve.launch import post_all, running_server
from tests.test_export_tasks import conll_sentences

MAX_CHARS = 1500


def squad_rows(shared_data: Path, count: int) -> list[dict[str, str]]:
    """Questions with their contexts from the last SQuAD dev articles."""
    articles = json.loads((shared_data / "squad" / "dev-v1.1.json").read_text())["data"][-2:]
    rows = [
        {"question": qa["question"], "context": paragraph["context"]}
        for article in articles
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    return [row for row in rows if len(row["context"]) <= MAX_CHARS][:count]


def serve(checkpoint: str, backend: str, run_dir: Path, *extra: str) -> Any:
    overrides = [
        f"ckpt_path={checkpoint}",
        f"backend={backend}",
        f"max_chars={MAX_CHARS}",
        "max_batch_size=8",
        "batch_timeout=0.05",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]
    return running_server(overrides, run_dir / "server.log")


def served_export(
    recipe: str, backend: str, task_run, task_export, folder: Path
) -> Iterator[tuple[str, str]]:
    """A recipe's checkpoint exported and served on `backend`: the URL and the checkpoint."""
    checkpoint = task_run(recipe)["best_checkpoint"]
    task_export(recipe)
    with serve(checkpoint, backend, folder) as url:
        yield url, checkpoint


@pytest.fixture(scope="module")
def tagger(task_run, task_export, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The BiLSTM-CRF served on its ONNX export (Viterbi in PyTorch)."""
    yield from served_export(
        "tag_bilstm_crf", "onnx", task_run, task_export, tmp_path_factory.mktemp("serve_tagger")
    )


@pytest.fixture(scope="module")
def reader(task_run, task_export, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The tiny pretrained-encoder QA model served on its ONNX export."""
    yield from served_export("qa_encoder", "onnx", task_run, task_export, tmp_path_factory.mktemp("serve_qa"))


def test_tagger_answers_concurrent_requests_as_the_predictor_does(tagger, shared_data: Path) -> None:
    url, checkpoint = tagger
    sentences = conll_sentences(shared_data, 32)
    responses = post_all(url, [{"text": s} for s in sentences])
    assert [r.status_code for r in responses] == [200] * len(sentences)
    expected = nlpzoo.load(checkpoint).predict(sentences)
    assert [r.json() for r in responses] == expected
    assert any(p["entities"] for p in expected)  # the trained tagger finds entities: spans are compared too
    metrics = httpx.get(f"{url}/metrics", params={"format": "json"}).json()
    assert metrics["backend"] == "onnx" and metrics["batches"] < metrics["requests"]


def test_qa_answers_concurrent_requests_as_the_predictor_does(reader, shared_data: Path) -> None:
    url, checkpoint = reader
    rows = squad_rows(shared_data, 24)
    responses = post_all(url, rows)
    assert [r.status_code for r in responses] == [200] * len(rows)
    expected = nlpzoo.load(checkpoint).predict(rows)
    for response, want, row in zip(responses, expected, rows, strict=True):
        got = response.json()
        assert (got["answer"], got["start"], got["end"]) == (want["answer"], want["start"], want["end"])
        assert got["score"] == pytest.approx(want["score"], abs=1e-3)
        assert got["answer"] == row["context"][got["start"] : got["end"]]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({}, "Field required"),
        ({"text": 7}, "valid string"),
        ({"text": "  "}, "text is empty"),
        ({"text": "word " * 400}, f"the limit is {MAX_CHARS}"),
        ({"text": "EU rejects German call", "lang": "en"}, "Extra inputs are not permitted"),
        (["EU rejects German call"], "valid dictionary"),
    ],
)
def test_bad_tagging_requests_get_a_4xx(tagger, payload: Any, problem: str) -> None:
    url, _ = tagger
    response = httpx.post(f"{url}/predict", json=payload, timeout=30)
    assert 400 <= response.status_code < 500 and problem in response.text
    assert (
        httpx.post(f"{url}/predict", json={"text": "EU rejects German call"}, timeout=30).status_code == 200
    )


def test_a_tagger_refuses_a_text_longer_than_it_reads_rather_than_cut_it(tagger, shared_data: Path) -> None:
    url, checkpoint = tagger
    words = [w for w in " ".join(conll_sentences(shared_data, 200)).split() if len(w) <= 3][
        :301
    ]  # within max_chars
    long_text = " ".join(words)
    assert len(nlpzoo.load(checkpoint).predict([long_text])[0]["tags"]) < len(
        words
    )  # what serving refuses to return
    response = httpx.post(f"{url}/predict", json={"text": long_text}, timeout=30)
    assert response.status_code == 422
    assert "text has 301 words" in response.text and "reads at most" in response.text
    fits = httpx.post(f"{url}/predict", json={"text": " ".join(words[:40])}, timeout=30)
    assert fits.status_code == 200 and len(fits.json()["tags"]) == 40


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"question": "Who won?"}, "Field required"),
        ({"text": "Who won?"}, "Field required"),
        ({"question": "Who won?", "context": ["The Broncos."]}, "valid string"),
        ({"question": "", "context": "The Broncos won."}, "question is empty"),
        ({"question": "Who won?", "context": "\n"}, "context is empty"),
        (
            {"question": "Who won?", "context": "x" * (MAX_CHARS + 1)},
            f"context has {MAX_CHARS + 1} characters",
        ),
    ],
)
def test_bad_qa_requests_get_a_4xx(reader, payload: Any, problem: str) -> None:
    url, _ = reader
    response = httpx.post(f"{url}/predict", json=payload, timeout=30)
    assert 400 <= response.status_code < 500 and problem in response.text
    good = {"question": "Who won?", "context": "The Broncos won the game."}
    assert httpx.post(f"{url}/predict", json=good, timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("recipe", "texts", "extra"),
    [
        # Greedy: an answer does not depend on the requests it is batched with.
        (
            "lm_gpt",
            ["ROMEO:\nWhat ", "First Citizen:\n", "KING", "JULIET:\n"],
            ["generation.do_sample=false", "generation.max_new_tokens=12"],
        ),
        (
            "seq2seq_attention",
            ["ein Mann fährt Fahrrad .", "zwei Hunde spielen im Schnee .", "eine Frau singt ."],
            [],
        ),
    ],
)
def test_generation_is_served_as_the_predictor_generates(
    recipe: str, texts: list[str], extra: list[str], task_run, task_export, tmp_path: Path
) -> None:
    checkpoint = task_run(recipe)["best_checkpoint"]
    task_export(recipe)  # the drift profile the server monitors with
    with serve(checkpoint, "torch", tmp_path, *extra) as url:
        responses = post_all(url, [{"text": t} for t in texts])
        empty = httpx.post(f"{url}/predict", json={"text": " "}, timeout=30)
    generation = {"do_sample": False, "max_new_tokens": 12} if extra else None
    expected = nlpzoo.load(checkpoint, generation=generation).predict(texts)
    assert [r.status_code for r in responses] == [200] * len(texts)
    assert [r.json() for r in responses] == expected
    assert all(isinstance(p["generated"], str) for p in expected)
    assert empty.status_code == 422 and "text is empty" in empty.text


def test_serving_refuses_what_it_cannot_serve(task_run, tmp_path: Path) -> None:
    from nlpzoo.serve.api import build_server

    with pytest.raises(ConfigError, match="generate in PyTorch; serve them with backend=torch"):
        build_server(task_run("lm_gpt")["best_checkpoint"], backend="onnx")
    with pytest.raises(
        ConfigError, match=r"backend=onnx_int8 needs .*model\.int8\.onnx: run `python export\.py"
    ):
        build_server(
            task_run("qa_transformer_encoder")["best_checkpoint"],
            backend="onnx_int8",
            export_dir=str(tmp_path),
        )
    with pytest.raises(
        ConfigError, match=r"generation options \['num_beams'\] apply to seq2seq and language models"
    ):
        build_server(task_run("qa_transformer_encoder")["best_checkpoint"], generation={"num_beams": 2})
