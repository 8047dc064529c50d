"""Heavy optional parts are pip extras: without one, its import site says which command installs it,
and word2vec without numba still trains (the vectorized steps)."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nlpzoo.errors import MissingExtraError
from tests.conftest import ROOT, compose_config


def hide(monkeypatch: pytest.MonkeyPatch, *packages: str) -> None:
    """Imports of `packages` fail as if they were not installed (None in sys.modules)."""
    for package in packages:
        monkeypatch.setitem(sys.modules, package, None)


def reimport(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.delitem(sys.modules, module, raising=False)
    importlib.import_module(module)


@pytest.mark.parametrize(
    "module", ["nlpzoo.serve.api", "nlpzoo.serve.batching", "nlpzoo.serve.http", "nlpzoo.serve.lifecycle"]
)
def test_serving_without_litserve_names_the_serve_extra(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    hide(monkeypatch, "litserve", "litserve.loops", "litserve.utils", "fastapi", "fastapi.exceptions")
    for name in ["nlpzoo.serve.api", "nlpzoo.serve.batching", "nlpzoo.serve.http", "nlpzoo.serve.lifecycle"]:
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(MissingExtraError, match=r'is not installed.*pip install "nlpzoo\[serve\]"'):
        reimport(monkeypatch, module)


def test_onnx_backends_and_export_without_onnx_name_the_onnx_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from nlpzoo.export.onnx import export_onnx, quantize_onnx_dynamic
    from nlpzoo.export.runtime import OnnxBackend

    hide(monkeypatch, "onnx", "onnxruntime", "onnxruntime.quantization")
    message = r'^onnx(runtime)? is not installed.*pip install "nlpzoo\[onnx\]"$'
    with pytest.raises(MissingExtraError, match=message):
        OnnxBackend(tmp_path / "model.onnx")
    with pytest.raises(MissingExtraError, match=message):
        quantize_onnx_dynamic(tmp_path / "model.onnx", tmp_path / "int8.onnx")
    with pytest.raises(MissingExtraError, match=message):
        export_onnx(torch.nn.Identity(), {}, tmp_path / "model.onnx")  # type: ignore[arg-type]


def test_dynamo_export_without_onnxscript_names_the_onnx_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import numpy as np

    from nlpzoo.export.onnx import export_onnx
    from nlpzoo.models import TransformerEncoderModel
    from nlpzoo.tasks import TaskKind, TaskSpec

    spec = TaskSpec(kind=TaskKind.TEXT_CLASSIFICATION, vocab_size=20, label_names=["a", "b"])
    hide(monkeypatch, "onnxscript")
    sample = {"input_ids": np.ones((2, 3), np.int64), "attention_mask": np.ones((2, 3), np.int64)}
    with pytest.raises(
        MissingExtraError, match=r'^onnxscript is not installed.*pip install "nlpzoo\[onnx\]"$'
    ):
        export_onnx(TransformerEncoderModel(spec, dim=8, heads=2, layers=1), sample, tmp_path / "model.onnx")


def test_mlflow_logger_without_mlflow_fails_before_any_data_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from nlpzoo.training import preflight

    cfg = compose_config(["logger=mlflow"], tmp_path)
    hide(monkeypatch, "mlflow")
    with pytest.raises(MissingExtraError, match=r'mlflow is not installed.*pip install "nlpzoo\[mlflow\]"'):
        preflight(cfg)


def test_word2vec_without_numba_trains_with_the_vectorized_steps(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from nlpzoo.data import WordEmbeddingCorpus
    from nlpzoo.models import Word2Vec
    from nlpzoo.models.word2vec import compiled_loop_available

    corpus = WordEmbeddingCorpus(path="gensim:head500.noblanks.cor", max_train_words=2_000, batch_words=500)
    corpus.setup()
    batch = next(iter(corpus.train_dataloader()))
    torch.manual_seed(0)
    model = Word2Vec(corpus.spec, dim=8, optimizer={"_target_": "torch.optim.SGD", "lr": 0.025})
    twin = Word2Vec(corpus.spec, dim=8, optimizer={"_target_": "torch.optim.SGD", "lr": 0.025})
    twin.load_state_dict(model.state_dict())

    hide(monkeypatch, "numba")
    compiled_loop_available.cache_clear()
    monkeypatch.delitem(sys.modules, "nlpzoo.models.word2vec_kernel", raising=False)
    with pytest.raises(MissingExtraError, match=r'numba is not installed.*pip install "nlpzoo\[numba\]"'):
        importlib.import_module("nlpzoo.models.word2vec_kernel")
    try:
        with caplog.at_level(logging.WARNING, logger="nlpzoo.models.word2vec"):
            alphas = [0.025] * model.sub_batches(batch)
            loss, count = model.sgd_pass(batch, alphas)
        assert 'pip install "nlpzoo[numba]"' in caplog.text
        with torch.no_grad():
            expected = twin.vectorized_sgd(*twin.examples(batch), alphas)
        assert count > 0 and loss == pytest.approx(expected)
        assert torch.equal(model.input_vectors.weight, twin.input_vectors.weight)  # the same steps
    finally:
        compiled_loop_available.cache_clear()  # the next test finds numba again


def test_serve_py_without_litserve_prints_one_error_line() -> None:
    """As a user with a plain `pip install nlpzoo` types it: one `nlpzoo: error:` line, no traceback."""
    hidden = "import runpy, sys; sys.modules['litserve'] = None; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    result = subprocess.run(
        [sys.executable, "-c", hidden, "serve.py", "ckpt_path=model.ckpt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert (
        'nlpzoo: error: litserve is not installed, and this part of nlpzoo needs it: pip install "nlpzoo[serve]"'
        in result.stderr
    )


def test_a_plain_install_leaves_the_heavy_parts_to_extras_and_dev_has_them_all(tmp_path: Path) -> None:
    """The package metadata pip reads: onnx, litserve, numba and mlflow only behind their extras."""
    build = "import sys; from setuptools import build_meta; build_meta.prepare_metadata_for_build_wheel(sys.argv[1])"
    result = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (metadata,) = tmp_path.glob("*.dist-info/METADATA")
    requires = [
        line.split(":", 1)[1].strip()
        for line in metadata.read_text().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    plain = [r for r in requires if "extra ==" not in r]
    heavy = {
        "onnx": "onnx",
        "onnxruntime": "onnx",
        "litserve": "serve",
        "numba": "numba",
        "mlflow-skinny": "mlflow",
    }
    for package, extra in heavy.items():
        assert not any(r.startswith(package) for r in plain), f"{package} is pulled by a plain install"
        assert any(r.startswith(package) and f'extra == "{extra}"' in r for r in requires), package
    assert any(
        r.startswith("nlpzoo[")
        and "onnx" in r
        and "serve" in r
        and "numba" in r
        and "mlflow" in r
        and 'extra == "all"' in r
        for r in requires
    )
    assert any(r.startswith("nlpzoo[") and "all" in r and 'extra == "dev"' in r for r in requires)
