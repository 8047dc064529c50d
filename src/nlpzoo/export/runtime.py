"""The backends a family module runs on: PyTorch eager/compiled/int8 or ONNX Runtime fp32/int8.

Every backend maps the same numpy inputs (`input_ids`, `attention_mask`, ...) to the family's
outputs dict (`logits`, ...). `BatchForward` gives a backend the module's own signature, so the
prediction package's predictors (`nlpzoo.load(ckpt, backend=...)`) encode and decode as they do in
PyTorch, and export checks, benchmarks and serving share one tokenizer and one decoding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from nlpzoo.errors import ConfigError
from nlpzoo.models.base import ZooModule
from nlpzoo.optional import optional_import

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


def check_backend(backend: str) -> None:
    """Refuse a backend name that is not one of BACKENDS, naming them."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend='{backend}' is not one of {list(BACKENDS)}")


def build_backend(backend: str, module: ZooModule, export_dir: Path, threads: int = 0) -> Backend:
    """One of BACKENDS for a loaded module; ONNX backends read the files export.py wrote."""
    check_backend(backend)
    if backend in ONNX_FILES:
        return OnnxBackend(export_dir / ONNX_FILES[backend], threads)
    if backend == "torch_int8":
        return TorchBackend(quantize_torch_dynamic(module))
    return TorchBackend(module, compile=backend == "torch_compile")


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
