"""ONNX export, quantization and the export recipe on a tiny LSTM trained through the real recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import nlpzoo
from nlpzoo.checkpoint import LoadedCheckpoint, load_module
from nlpzoo.errors import ConfigError
from nlpzoo.export import OnnxBackend, TorchBackend, check_parity, export_onnx
from nlpzoo.export.runtime import MODEL_INPUTS, PROFILE_FILE, REPORT_FILE, Arrays
from nlpzoo.prediction import run_prediction
from tests.conftest import compose_config


def sst2_dev_texts(shared_data: Path, count: int) -> list[str]:
    lines = (shared_data / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1 : count + 1]
    return [line.split("\t", 1)[1] for line in lines]


def encode(loaded: LoadedCheckpoint, texts: list[str], pad_to: int | None = None) -> Arrays:
    """Model inputs of `texts` as numpy arrays, padded to the longest text or to `pad_to` tokens."""
    padding: bool | str = "max_length" if pad_to else True
    max_length = pad_to or loaded.module.spec.max_length
    features = loaded.tokenizer(
        texts, padding=padding, truncation=True, max_length=max_length, return_tensors="np"
    )
    return {key: features[key].astype(np.int64) for key in MODEL_INPUTS if key in features}


def test_onnx_matches_pytorch_on_200_real_sentences_with_any_batch_and_length(
    tiny_lstm_checkpoint: Path, shared_data: Path, tmp_path: Path
) -> None:
    loaded = load_module(tiny_lstm_checkpoint)
    texts = sst2_dev_texts(shared_data, 200)
    path = tmp_path / "model.onnx"
    assert export_onnx(loaded.module, encode(loaded, texts[:2]), path) == ["logits"]
    # Batches of other sizes and lengths than the traced one: the axes are dynamic, padding is skipped.
    batches = [
        encode(loaded, texts[i : i + size]) for i, size in zip(range(0, 200, 50), (1, 7, 32, 50), strict=True)
    ]
    batches.append(encode(loaded, texts[150:200]))
    report = check_parity(TorchBackend(loaded.module), OnnxBackend(path), batches)
    assert report.max_abs_diff < 1e-4
    assert report.identical_argmax
    assert report.examples == 1 + 7 + 32 + 50 + 50


def test_the_recurrent_family_exports_with_torchscript_the_others_with_dynamo_at_opset_18(
    tiny_lstm_checkpoint: Path,
) -> None:
    from nlpzoo.export.onnx import exporter_for
    from nlpzoo.models import PretrainedEncoder, TransformerEncoderModel
    from nlpzoo.tasks import TaskKind, TaskSpec
    from tests.tiny_transformers import tiny

    spec = TaskSpec(kind=TaskKind.TOKEN_CLASSIFICATION, vocab_size=30, label_names=["O", "B-PER", "I-PER"])
    encoders = [
        TransformerEncoderModel(spec, dim=16, heads=2, layers=1),
        PretrainedEncoder(spec, **tiny("bert")),
    ]
    assert exporter_for(load_module(tiny_lstm_checkpoint).module) == "torchscript"
    assert [exporter_for(module) for module in encoders] == ["dynamo", "dynamo"]
    sample = {"input_ids": np.ones((2, 5), np.int64), "attention_mask": np.ones((2, 5), np.int64)}
    with pytest.raises(ConfigError, match="dynamo exporter, which writes opset 18"):
        export_onnx(encoders[0], sample, "unused.onnx", opset=17)


def test_a_dynamo_export_traced_on_one_token_answers_other_batches_and_lengths(tmp_path: Path) -> None:
    """torch.export would fix sizes 1 as constants; export_onnx traces on a larger copy of such a sample."""
    from nlpzoo.export.onnx import exporter_of
    from nlpzoo.models import TransformerEncoderModel
    from nlpzoo.tasks import TaskKind, TaskSpec

    spec = TaskSpec(kind=TaskKind.TOKEN_CLASSIFICATION, vocab_size=30, label_names=["O", "B-PER", "I-PER"])
    module = TransformerEncoderModel(spec, dim=16, heads=2, layers=1)
    one = np.array([[5]], dtype=np.int64)
    export_onnx(module, {"input_ids": one, "attention_mask": np.ones_like(one)}, tmp_path / "m.onnx")
    assert exporter_of(tmp_path / "m.onnx") == "dynamo"
    ids = np.random.default_rng(0).integers(1, 30, size=(3, 7))
    mask = np.ones_like(ids)
    mask[1, 4:] = 0  # a padded row
    batch = {"input_ids": np.where(mask == 1, ids, 0), "attention_mask": mask}
    report = check_parity(TorchBackend(module), OnnxBackend(tmp_path / "m.onnx"), [batch], token_level=True)
    assert report.max_abs_diff < 1e-4 and report.identical_argmax, report


def test_padding_does_not_change_the_onnx_output(tiny_lstm_checkpoint: Path, tmp_path: Path) -> None:
    loaded = load_module(tiny_lstm_checkpoint)
    export_onnx(loaded.module, encode(loaded, ["a fine film", "dull"]), tmp_path / "m.onnx")
    onnx = OnnxBackend(tmp_path / "m.onnx")
    alone = onnx(encode(loaded, ["a moving and funny story"]))["logits"]
    padded = onnx(encode(loaded, ["a moving and funny story"], pad_to=40))["logits"]
    np.testing.assert_allclose(alone, padded, atol=1e-5)


def test_export_recipe_reports_accuracy_size_and_parity_for_every_backend(exported_lstm: dict) -> None:
    backends = exported_lstm["backends"]
    assert set(backends) == {"torch", "torch_int8", "onnx", "onnx_int8"}
    assert backends["onnx"]["parity_vs_torch"]["identical_argmax"]
    assert backends["onnx"]["parity_vs_torch"]["examples"] == 200
    assert exported_lstm["onnx_exporter"] == "torchscript"  # PackedSequence: see nlpzoo.export.onnx
    assert abs(backends["onnx"]["accuracy"] - backends["torch"]["accuracy"]) < 1e-9
    # int8 weights: the ONNX file shrinks, and accuracy stays close (same examples, same labels).
    assert backends["onnx_int8"]["size_bytes"] < 0.6 * backends["onnx"]["size_bytes"]
    assert backends["torch_int8"]["size_bytes"] < backends["torch"]["size_bytes"]
    for name in ("torch_int8", "onnx_int8"):
        assert abs(backends[name]["accuracy"] - backends["torch"]["accuracy"]) < 0.03
    folder = Path(exported_lstm["export_dir"])
    assert json.loads((folder / REPORT_FILE).read_text())["backends"]["onnx"] == backends["onnx"]
    assert json.loads((folder / PROFILE_FILE).read_text())["examples"] == 600


def test_every_backend_predicts_the_same_labels_from_text(
    exported_lstm: dict, tiny_lstm_checkpoint: Path, shared_data: Path
) -> None:
    texts = sst2_dev_texts(shared_data, 64)
    folder = exported_lstm["export_dir"]
    eager = nlpzoo.load(tiny_lstm_checkpoint, backend="torch").predict(texts)
    for backend in ("onnx", "torch_int8"):
        other = nlpzoo.load(tiny_lstm_checkpoint, backend=backend, export_dir=folder).predict(texts)
        agree = np.mean([a["label"] == b["label"] for a, b in zip(eager, other, strict=True)])
        assert agree >= (1.0 if backend == "onnx" else 0.95)
        assert max(abs(a["score"] - b["score"]) for a, b in zip(eager, other, strict=True)) < (
            1e-4 if backend == "onnx" else 0.05
        )


def test_torch_int8_quantizes_the_lstm_and_linear_layers(tiny_lstm_checkpoint: Path) -> None:
    from nlpzoo.export import quantize_torch_dynamic

    quantized = quantize_torch_dynamic(load_module(tiny_lstm_checkpoint).module)
    kinds = {type(m).__module__ for m in quantized.modules()}
    assert "torch.ao.nn.quantized.dynamic.modules.rnn" in kinds
    assert "torch.ao.nn.quantized.dynamic.modules.linear" in kinds
    linear = next(m for m in quantized.modules() if type(m).__module__.endswith("dynamic.modules.linear"))
    assert linear.weight().dtype == torch.qint8


def test_onnx_backend_without_export_says_what_to_run(tiny_lstm_checkpoint: Path) -> None:
    with pytest.raises(ConfigError, match=r"run export\.py"):
        nlpzoo.load(tiny_lstm_checkpoint, backend="onnx", export_dir=tiny_lstm_checkpoint.parent / "missing")
    with pytest.raises(ConfigError, match="not one of"):
        nlpzoo.load(tiny_lstm_checkpoint, backend="tensorrt")


def test_predict_script_predicts_on_an_exported_backend(
    exported_lstm: dict, tiny_lstm_checkpoint: Path, shared_data: Path, tmp_path: Path
) -> None:
    """`python predict.py ckpt_path=... backend=onnx_int8` gives what `nlpzoo.load(..., backend=...)` gives."""
    texts = sst2_dev_texts(shared_data, 8)
    inputs = tmp_path / "texts.txt"
    inputs.write_text("\n".join(texts) + "\n", encoding="utf-8")
    for backend in ("onnx", "onnx_int8"):
        overrides = [
            f"ckpt_path={tiny_lstm_checkpoint}",
            f"input={inputs}",
            f"output={tmp_path / backend}.jsonl",
            f"backend={backend}",
            "progress=false",
        ]
        output = run_prediction(compose_config(overrides, tmp_path / backend, config_name="predict"))
        lines = [json.loads(line) for line in output.read_text().splitlines()]
        expected = nlpzoo.load(tiny_lstm_checkpoint, backend=backend).predict(texts)
        assert [{k: v for k, v in line.items() if k != "input"} for line in lines] == expected
    int8 = [json.loads(line)["score"] for line in (tmp_path / "onnx_int8.jsonl").read_text().splitlines()]
    fp32 = [json.loads(line)["score"] for line in (tmp_path / "onnx.jsonl").read_text().splitlines()]
    assert int8 != fp32  # the int8 model did run
