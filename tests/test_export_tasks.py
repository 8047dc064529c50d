"""ONNX export of taggers (BiLSTM, BiLSTM-CRF, Transformer encoder, pretrained encoder) and extractive QA
models: parity with PyTorch on real CoNLL / SQuAD inputs, the task metric per backend, raw-text predictions."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import numpy as np
import pytest
import torch

import nlpzoo
from nlpzoo.checkpoint import load_module
from nlpzoo.errors import ConfigError
from nlpzoo.export.onnx import check_parity, exporter_of
from nlpzoo.export.pipeline import model_inputs, split_batches
from nlpzoo.export.runtime import PROFILE_FILE, REPORT_FILE, BatchForward, OnnxBackend, TorchBackend
from nlpzoo.serve.drift_statistics import KIND_STATISTICS
from nlpzoo.tasks import TaskKind
from tests.task_checkpoints import TAGGERS

QA = ["qa_transformer_encoder", "qa_encoder"]
RECURRENT = ("tag_bilstm", "tag_bilstm_crf")  # PackedSequence: the TorchScript exporter (nlpzoo.export.onnx)
TASK_METRIC = {"tag": ("f1", "val/f1"), "qa": ("f1", "val/f1")}  # export report name, training summary name


def conll_sentences(shared_data: Path, count: int) -> list[str]:
    """The first sentences of CoNLL-2003 testb (not trained or exported on), words joined by spaces."""
    sentences, words = [], []
    for line in (shared_data / "conll2003" / "eng.testb").read_text(encoding="utf-8").splitlines():
        if line.strip():
            words.append(line.split()[0])
        elif words:
            if words[0] != "-DOCSTART-":
                sentences.append(" ".join(words))
            words = []
    return sentences[:count]


@pytest.mark.parametrize("recipe", [*TAGGERS, *QA])
def test_onnx_matches_pytorch_and_the_task_metric_holds_on_every_backend(
    recipe: str, task_run, task_export
) -> None:
    summary, report = task_run(recipe), task_export(recipe)
    backends = report["backends"]
    assert set(backends) == {"torch", "torch_int8", "onnx", "onnx_int8"}
    assert report["task"] == ("token_classification" if recipe in TAGGERS else "extractive_qa")
    assert report["onnx_exporter"] == ("torchscript" if recipe in RECURRENT else "dynamo")
    onnx = backends["onnx"]["parity_vs_torch"]
    assert onnx["max_abs_diff"] < 1e-4 and onnx["identical_argmax"], onnx
    assert onnx["examples"] > 0
    # The metric of the PyTorch backend is the one training measured on the same validation split.
    name, logged = TASK_METRIC[recipe.split("_")[0]]
    assert backends["torch"]["metrics"][name] == pytest.approx(summary["metrics"][logged], abs=1e-4)
    assert backends["onnx"]["metrics"] == pytest.approx(backends["torch"]["metrics"], abs=1e-6)
    for quantized in ("torch_int8", "onnx_int8"):
        assert backends[quantized]["parity_vs_torch"]["argmax_agreement"] > 0.9
    assert backends["onnx_int8"]["size_bytes"] < 0.6 * backends["onnx"]["size_bytes"]
    profile = json.loads((Path(report["export_dir"]) / PROFILE_FILE).read_text())  # drift for every kind
    assert list(profile["shares"]) == list(KIND_STATISTICS[TaskKind(report["task"])])
    assert profile["examples"] == report["reference_profile"]["examples"] > 0
    assert json.loads((Path(report["export_dir"]) / REPORT_FILE).read_text())["backends"] == backends


@pytest.mark.parametrize("recipe", [*TAGGERS, *QA])
def test_onnx_answers_other_batch_sizes_and_lengths_than_the_export_sample(
    recipe: str, task_run, task_export
) -> None:
    """export.py traces on the split's first batch; fewer, shorter rows give the same scores in ONNX."""
    loaded = load_module(task_run(recipe)["best_checkpoint"])
    path = Path(task_export(recipe)["export_dir"]) / "model.onnx"
    assert exporter_of(path) == ("torchscript" if recipe in RECURRENT else "dynamo")
    first, second = (model_inputs(batch) for batch in split_batches(loaded, "validation")[:2])
    rows, length = first["input_ids"].shape  # the sample export traced
    assert OnnxBackend(path).session.get_inputs()[0].shape == ["batch", "sequence"]
    cut = [  # contiguous, as a DataLoader's batches are
        {key: np.ascontiguousarray(value[:3, : length // 2]) for key, value in first.items()},
        {key: np.ascontiguousarray(value[:5, : length - 3]) for key, value in second.items()},
    ]
    shapes = [batch["input_ids"].shape for batch in cut]
    assert all(shape[0] != rows and shape[1] != length for shape in shapes), (rows, length, shapes)
    report = check_parity(TorchBackend(loaded.module), OnnxBackend(path), cut, token_level=True)
    assert report.max_abs_diff < 1e-4 and report.identical_argmax, report
    assert report.examples == 8


def test_the_trained_bilstm_crf_finds_entities(task_export) -> None:
    """Parity on a model that has learned something: entity F1 well above zero, equal on ONNX."""
    metrics = task_export("tag_bilstm_crf")["backends"]
    assert metrics["torch"]["metrics"]["f1"] > 0.2
    assert metrics["onnx"]["metrics"]["f1"] == pytest.approx(metrics["torch"]["metrics"]["f1"])


def test_crf_viterbi_on_onnx_emissions_gives_the_modules_own_tags(task_run, task_export) -> None:
    checkpoint = task_run("tag_bilstm_crf")["best_checkpoint"]
    folder = Path(task_export("tag_bilstm_crf")["export_dir"])
    loaded = load_module(checkpoint)
    datamodule = hydra.utils.instantiate(loaded.data_config, tokenizer=None, _convert_="all")
    datamodule.use_tokenizer(loaded.tokenizer)
    datamodule.setup("validate")
    forward = BatchForward(OnnxBackend(folder / "model.onnx"), loaded.module)
    assert "char_ids" in OnnxBackend(folder / "model.onnx").input_names  # the character CNN is in the graph
    with torch.inference_mode():
        for batch in datamodule.val_dataloader():
            expected, actual = loaded.module(batch), forward(batch)
            assert torch.equal(actual["predictions"], expected["predictions"])
            torch.testing.assert_close(actual["logits"], expected["logits"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("recipe", list(TAGGERS))
def test_onnx_tags_raw_sentences_as_the_predictor_does(
    recipe: str, task_run, task_export, shared_data: Path
) -> None:
    checkpoint = task_run(recipe)["best_checkpoint"]
    task_export(recipe)
    sentences = conll_sentences(shared_data, 40)
    expected = nlpzoo.load(checkpoint, batch_size=8).predict(sentences)
    actual = nlpzoo.load(checkpoint, batch_size=8, backend="onnx").predict(sentences)
    assert actual == expected
    assert all(len(p["tags"]) == len(s.split()) for p, s in zip(actual, sentences, strict=True))


@pytest.mark.parametrize("recipe", QA)
def test_onnx_answers_raw_questions_as_the_predictor_does(
    recipe: str, task_run, task_export, shared_data: Path
) -> None:
    checkpoint = task_run(recipe)["best_checkpoint"]
    task_export(recipe)
    articles = json.loads((shared_data / "squad" / "dev-v1.1.json").read_text())["data"][
        -2:
    ]  # real, unseen rows
    rows = [
        {"question": qa["question"], "context": paragraph["context"]}
        for article in articles
        for paragraph in article["paragraphs"][:3]
        for qa in paragraph["qas"][:3]
    ]
    expected = nlpzoo.load(checkpoint, batch_size=4).predict(rows)
    actual = nlpzoo.load(checkpoint, batch_size=4, backend="onnx").predict(rows)
    for got, want, row in zip(actual, expected, rows, strict=True):
        assert (got["answer"], got["start"], got["end"]) == (want["answer"], want["start"], want["end"])
        assert got["score"] == pytest.approx(want["score"], abs=1e-3)
        assert got["answer"] == row["context"][got["start"] : got["end"]]


def test_export_of_a_language_model_writes_its_drift_profile_and_no_onnx(task_run, tmp_path: Path) -> None:
    from tests.task_checkpoints import export_checkpoint

    report = export_checkpoint(task_run("lm_gpt")["best_checkpoint"], tmp_path)
    folder = Path(report["export_dir"])
    assert report["task"] == "language_modeling" and report["backends"] == {}
    profile = json.loads((folder / PROFILE_FILE).read_text())
    assert list(profile["shares"]) == list(KIND_STATISTICS[TaskKind.LANGUAGE_MODELING])
    assert not (folder / "model.onnx").exists()
    with pytest.raises(ConfigError, match="generate with their own decoding in PyTorch; use backend=torch"):
        nlpzoo.load(task_run("lm_gpt")["best_checkpoint"], backend="onnx")
