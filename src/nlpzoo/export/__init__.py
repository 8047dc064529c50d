"""From a checkpoint to production: ONNX export, quantization, parity checks, runtime backends."""

from nlpzoo.export.onnx import ParityReport, check_parity, export_onnx, quantize_onnx_dynamic
from nlpzoo.export.runtime import (
    BACKENDS,
    OnnxBackend,
    Predictor,
    TorchBackend,
    load_predictor,
    quantize_torch_dynamic,
)

__all__ = [
    "BACKENDS",
    "OnnxBackend",
    "ParityReport",
    "Predictor",
    "TorchBackend",
    "check_parity",
    "export_onnx",
    "load_predictor",
    "quantize_onnx_dynamic",
    "quantize_torch_dynamic",
]
