"""Texts in, predictions out, on any backend: PyTorch eager/compiled/int8 or ONNX Runtime fp32/int8.

Every backend maps the same numpy inputs (`input_ids`, `attention_mask`, ...) to the family's
outputs dict (`logits`, ...), so the tokenizer, the decoding (the task objective's `predict`)
and the drift statistics are written once and shared by export checks, benchmarks and serving.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from nlpzoo.checkpoint import load_module
from nlpzoo.errors import ConfigError
from nlpzoo.models.base import ZooModule
from nlpzoo.optional import optional_import
from nlpzoo.tasks import TaskObjective, TaskSpec, build_objective

if TYPE_CHECKING:
    from nlpzoo.prediction.base import Predictor as TaskPredictor

Arrays = dict[str, np.ndarray]
MODEL_INPUTS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "char_ids",
)  # char_ids: a tagger's character features


class Backend(Protocol):
    """Maps numpy model inputs to the family's numpy outputs (e.g. logits (batch, num_labels))."""

    def __call__(self, inputs: Arrays) -> Arrays: ...


class TorchBackend:
    """A family module run by PyTorch: eager, `torch.compile`d, or dynamically quantized."""

    def __init__(self, module: torch.nn.Module, compile: bool = False) -> None:
        self.module = module.eval()
        self.forward = torch.compile(module, dynamic=True) if compile else module

    @torch.inference_mode()
    def __call__(self, inputs: Arrays) -> Arrays:
        batch = {key: torch.from_numpy(value) for key, value in inputs.items()}
        outputs = self.forward(batch)
        return {
            key: value.float().numpy() for key, value in outputs.items() if isinstance(value, torch.Tensor)
        }


class OnnxBackend:
    """An exported model run by ONNX Runtime on CPU; feeds only the inputs the graph declares."""

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        with optional_import("onnx"):
            import onnxruntime as ort

        if not Path(path).is_file():
            raise ConfigError(f"ONNX model not found: {path}; run export.py first")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default (all cores)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [node.name for node in self.session.get_inputs()]
        self.output_names = [node.name for node in self.session.get_outputs()]

    def __call__(self, inputs: Arrays) -> Arrays:
        feed = {name: inputs[name].astype(np.int64) for name in self.input_names}
        return dict(zip(self.output_names, self.session.run(self.output_names, feed), strict=True))


class Predictor:
    """The checkpoint's tokenizer + a backend + the task objective's decoding."""

    def __init__(self, backend: Backend, tokenizer: Any, spec: TaskSpec) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self.spec = spec
        self.objective: TaskObjective = build_objective(spec)

    def encode(self, texts: Sequence[str], pad_to: int | None = None) -> Arrays:
        """Tokenize like training did (truncated at the spec's max_length); `pad_to` fixes the width."""
        padding: bool | str = "max_length" if pad_to else True
        encoded = self.tokenizer(
            list(texts),
            padding=padding,
            truncation=True,
            max_length=pad_to or self.spec.max_length,
            return_tensors="np",
        )
        return {key: encoded[key].astype(np.int64) for key in MODEL_INPUTS if key in encoded}

    def outputs(self, inputs: Arrays) -> Arrays:
        return self.backend(inputs)

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One JSON-ready prediction per text (for classification: label, score, label_id)."""
        inputs = self.encode(texts)
        return self.decode(self.outputs(inputs), inputs)

    def decode(self, outputs: Arrays, inputs: Arrays) -> list[dict[str, Any]]:
        tensors = {key: torch.from_numpy(value) for key, value in outputs.items()}
        return self.objective.predict(
            tensors, {key: torch.from_numpy(value) for key, value in inputs.items()}
        )


def quantize_torch_dynamic(module: ZooModule) -> torch.nn.Module:
    """int8 weights for Linear and LSTM/GRU layers (activations quantized on the fly), for CPU."""
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(module, {torch.nn.Linear, torch.nn.LSTM, torch.nn.GRU}, dtype=torch.qint8)


def module_size_bytes(module: torch.nn.Module) -> int:
    """Bytes of the serialized state dict (what a deployment ships), packed int8 weights included."""
    import io

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getbuffer().nbytes


BACKENDS = ("torch", "torch_compile", "torch_int8", "onnx", "onnx_int8")
ONNX_FILES = {"onnx": "model.onnx", "onnx_int8": "model.int8.onnx"}
PROFILE_FILE = "reference_profile.json"
REPORT_FILE = "export_report.json"


def export_dir_for(ckpt_path: str | Path, export_dir: str | Path | None = None) -> Path:
    """Where export.py writes a checkpoint's artifacts: `<checkpoint stem>.export/` beside it, unless given."""
    return Path(export_dir) if export_dir else Path(ckpt_path).with_suffix(".export")


def build_backend(backend: str, module: ZooModule, export_dir: Path, threads: int = 0) -> Backend:
    """One of BACKENDS for a loaded module; ONNX backends read the files export.py wrote."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend='{backend}' is not one of {list(BACKENDS)}")
    if backend in ONNX_FILES:
        return OnnxBackend(export_dir / ONNX_FILES[backend], threads)
    if backend == "torch_int8":
        return TorchBackend(quantize_torch_dynamic(module))
    return TorchBackend(module, compile=backend == "torch_compile")


def load_predictor(
    ckpt_path: str | Path, backend: str = "torch", export_dir: str | Path | None = None, threads: int = 0
) -> Predictor:
    """A checkpoint as a `Predictor` on the chosen backend, with the tokenizer stored in the checkpoint."""
    loaded = load_module(ckpt_path)
    if loaded.tokenizer is None:
        raise ConfigError(f"{ckpt_path} carries no tokenizer; it cannot be served from text")
    folder = export_dir_for(ckpt_path, export_dir)
    return Predictor(
        build_backend(backend, loaded.module, folder, threads), loaded.tokenizer, loaded.module.spec
    )


class BatchForward:
    """A backend with a family module's signature (batch of tensors -> outputs dict), for the prediction
    package's `model_forward` and the task metrics. A CRF's Viterbi runs here, in PyTorch, on the
    backend's emissions: the ONNX graph stops at the emissions (the time loop would be frozen at the
    traced length), and decoding with the module's own CRF keeps tags identical to evaluation's."""

    def __init__(self, backend: Backend, module: ZooModule) -> None:
        self.backend = backend
        head = getattr(module, "head", None)
        self.crf_head = head if getattr(head, "crf", None) is not None else None

    def __call__(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        inputs = {key: np.asarray(batch[key].cpu(), dtype=np.int64) for key in MODEL_INPUTS if key in batch}
        outputs = {
            key: torch.from_numpy(value)
            for key, value in self.backend(inputs).items()
            if key != "predictions"
        }
        if self.crf_head is not None:
            outputs["predictions"] = self.crf_head.viterbi(outputs["logits"], batch)  # (B, T)
        return outputs


def load_task_predictor(
    ckpt_path: str | Path,
    backend: str = "torch",
    export_dir: str | Path | None = None,
    threads: int = 0,
    batch_size: int = 32,
    generation: dict[str, Any] | None = None,
) -> TaskPredictor:
    """The prediction package's predictor for a checkpoint, its model run by `backend` (torch: the module itself).

    Tagging and QA run on any backend; generating kinds (seq2seq, language models) only on torch.
    """
    from nlpzoo.prediction import GenerationOptions, predictor_for
    from nlpzoo.prediction.generation import GenerationPredictor

    loaded = load_module(ckpt_path)
    predictor = predictor_for(loaded, batch_size, "cpu", GenerationOptions.from_config(generation))
    if backend == "torch":
        return predictor
    if isinstance(predictor, GenerationPredictor):
        raise ConfigError(
            f"backend={backend}: {loaded.module.spec.kind.value} checkpoints generate with their own "
            "decoding in PyTorch; serve them with backend=torch"
        )
    folder = export_dir_for(ckpt_path, export_dir)
    predictor.model_forward = BatchForward(
        build_backend(backend, loaded.module, folder, threads), loaded.module
    )
    return predictor
