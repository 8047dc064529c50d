"""ONNX export of a family module with dynamic batch and sequence axes, and its parity check.

We use the TorchScript-based exporter (`dynamo=False`): `torch.export` cannot trace the recurrent
family's `PackedSequence` (it fails on the data-dependent lengths), while the TorchScript exporter
maps `pack_padded_sequence` onto the ONNX RNN ops' own `sequence_lens` input, so the exported
LSTM skips padding exactly as training does. Hugging Face encoders export the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nlpzoo.export.runtime import Arrays, Backend
from nlpzoo.models.base import ZooModule
from nlpzoo.optional import optional_import, require

OPSET = 17
# Outputs left out of the graph: a CRF's Viterbi tags; its loop over time steps would be traced at the
# sample's length. `runtime.BatchForward` decodes them in PyTorch from the exported emissions.
DECODED_IN_PYTORCH = ("predictions",)


class ExportableModule(torch.nn.Module):
    """Positional tensors in, a tuple of output tensors out: the signature ONNX export needs."""

    def __init__(self, module: ZooModule, input_names: list[str], output_names: list[str]) -> None:
        super().__init__()
        self.module = module
        self.input_names = input_names
        self.output_names = output_names

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.module(dict(zip(self.input_names, tensors, strict=True)))
        return tuple(outputs[name] for name in self.output_names)


def export_onnx(module: ZooModule, sample: Arrays, path: str | Path, opset: int = OPSET) -> list[str]:
    """Write `module` as ONNX at `path`, traced on `sample` inputs; returns the output names.

    Every input and output gets dynamic axes 0 (batch) and 1 (sequence) where it has them.
    """
    require("onnx")  # torch.onnx writes the graph with it
    module = module.eval()
    inputs = {key: torch.from_numpy(value) for key, value in sample.items()}
    with torch.no_grad():
        outputs = module(inputs)
    output_names = [
        key
        for key, value in outputs.items()
        if isinstance(value, torch.Tensor) and value.dim() > 0 and key not in DECODED_IN_PYTORCH
    ]
    input_names = list(inputs)
    wrapper = ExportableModule(module, input_names, output_names).eval()
    dynamic_axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in input_names}
    for name in output_names:
        # (batch, labels) for sentence heads, (batch, sequence, ...) for token heads
        axes = {0: "batch"}
        if outputs[name].dim() > 1 and outputs[name].shape[1] == inputs["input_ids"].shape[1]:
            axes[1] = "sequence"
        dynamic_axes[name] = axes
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        wrapper,
        tuple(inputs.values()),
        str(path),
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=dynamic_axes,
        opset_version=opset,
        dynamo=False,
    )
    return output_names


def quantize_onnx_dynamic(source: str | Path, target: str | Path) -> Path:
    """onnxruntime's dynamic quantization: int8 weights for MatMul/Gemm/LSTM/GRU, activations on the fly."""
    with optional_import("onnx"):
        from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    return Path(target)


@dataclass
class ParityReport:
    """How far a backend's outputs are from the reference's on the same inputs."""

    examples: int
    max_abs_diff: float
    argmax_agreement: float

    @property
    def identical_argmax(self) -> bool:
        return self.argmax_agreement == 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "identical_argmax": self.identical_argmax}


def check_parity(
    reference: Backend, candidate: Backend, batches: list[Arrays], token_level: bool = False
) -> ParityReport:
    """Compare the outputs two backends share over real batches: max |difference| and argmax agreement.

    `token_level`: outputs are per token ((B, T) span scores, (B, T, C) tag scores); padding positions are
    left out, and every output's argmax counts (tag per token; start and end token per window).
    """
    max_diff, agree, total = 0.0, 0, 0
    for inputs in batches:
        expected, actual = reference(inputs), candidate(inputs)
        names = [name for name in expected if name in actual and name not in DECODED_IN_PYTORCH]
        real = inputs["attention_mask"].astype(bool)  # (B, T)
        for name in names:
            difference = np.abs(expected[name] - actual[name])
            max_diff = max(max_diff, float((difference[real] if token_level else difference).max()))
        for name in names if token_level else names[:1]:
            same = expected[name].argmax(-1) == actual[name].argmax(-1)  # (B,) or (B, T) for tag scores
            if token_level and same.shape == real.shape:
                same = same[real]  # the tag of each real token; span scores give the best token per window
            agree += int(same.sum())
            total += same.size
    return ParityReport(
        examples=sum(len(b["input_ids"]) for b in batches),
        max_abs_diff=max_diff,
        argmax_agreement=agree / max(total, 1),
    )
