"""ONNX export of a family module with dynamic batch and sequence axes, and its parity check.

Every family exports with torch's recommended exporter, `torch.onnx.export(..., dynamo=True)`: torch.export
captures the graph, `dynamic_shapes` keeps batch and sequence free, and onnxscript writes opset 18 (asked for
17, its down-conversion left opset-18 `Split(num_outputs=...)` nodes that onnxruntime refuses to load).

Except the recurrent family (`TORCHSCRIPT_FAMILIES`), which keeps the deprecated TorchScript exporter
(`dynamo=False`): under an exporter its encoder runs the RNN on `pack_padded_sequence`'s PackedSequence, so
padding never enters the recurrence, and torch.export cannot trace that. With torch 2.13 it fails inside `nn.LSTM.forward`
(`max_batch_size = batch_sizes[0]` is a data-dependent tensor there): "TypeError: zeros(): argument 'size'
failed to unpack the object at pos 2 with error "type must be tuple of ints,but got FakeTensor"", in both
non-strict and strict mode. The TorchScript exporter instead maps the packing onto the ONNX RNN ops' own
`sequence_lens` input. Moving it to dynamo would take an export graph without PackedSequence that still
skips padding: a plain padded `nn.LSTM` does export (to ONNX LSTM), and `models/recurrence_by_length.py`
(the eager CPU path) already runs each direction that way, but calls torch's per-direction kernels, which
would need their own export check; or a custom
translation (`custom_translation_table`) of the packed RNN onto ONNX LSTM/GRU/RNN with `sequence_lens`.
Either must then match the packed encoder per cell (RNN/LSTM/GRU), depth and direction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from nlpzoo.errors import ConfigError
from nlpzoo.export.runtime import Arrays, Backend
from nlpzoo.models.base import ZooModule
from nlpzoo.optional import optional_import, require

OPSET = 18  # the dynamo exporter's own; see the module docstring for 17
Exporter = Literal["dynamo", "torchscript"]
# Families torch.export cannot capture (their PackedSequence: module docstring); the others export with dynamo.
TORCHSCRIPT_FAMILIES = frozenset({"recurrent"})
EXPORTER_KEY = "nlpzoo.exporter"  # ONNX metadata: which exporter wrote the graph
# Outputs left out of the graph: a CRF's Viterbi tags; its loop over time steps would be traced at the
# sample's length. `runtime.BatchForward` decodes them in PyTorch from the exported emissions.
DECODED_IN_PYTORCH = ("predictions",)


def exporter_for(module: ZooModule) -> Exporter:
    """The exporter a family's graph is written with: dynamo, or TorchScript for `TORCHSCRIPT_FAMILIES`."""
    return "torchscript" if module.family in TORCHSCRIPT_FAMILIES else "dynamo"


def exporter_of(path: str | Path) -> str | None:
    """Which exporter wrote the ONNX file at `path` (its `EXPORTER_KEY` metadata); None if not nlpzoo's."""
    onnx = require("onnx")
    model = onnx.load(str(path), load_external_data=False)
    return next((prop.value for prop in model.metadata_props if prop.key == EXPORTER_KEY), None)


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
    onnx = require("onnx")  # torch.onnx writes the graph with it
    exporter = exporter_for(module)
    if exporter == "dynamo":
        require("onnxscript")  # the dynamo exporter's ONNX functions
        if opset < OPSET:
            raise ConfigError(
                f"opset={opset}: the {module.family} family exports with torch's dynamo exporter, which "
                f"writes opset {OPSET} or newer"
            )
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
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if exporter == "dynamo":
        batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
        torch.onnx.export(
            wrapper,
            tuple(at_least_two(value) for value in inputs.values()),
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes={"tensors": tuple({0: batch, 1: sequence} for _ in input_names)},
            opset_version=opset,
            dynamo=True,
            external_data=False,  # one file, as the int8 quantizer and serve.py read it
            verbose=False,
        )
    else:
        torch.onnx.export(
            wrapper,
            tuple(inputs.values()),
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=torchscript_dynamic_axes(inputs, outputs, output_names),
            opset_version=opset,
            dynamo=False,
        )
    graph = onnx.load(str(path))
    for tensor in graph.graph.input:  # torch.export specializes an axis it finds constant, silently
        fixed = [axis for axis in tensor.type.tensor_type.shape.dim[:2] if not axis.dim_param]
        if fixed:
            raise RuntimeError(f"{exporter} export fixed an axis of {tensor.name} at {fixed[0].dim_value}")
    onnx.helper.set_model_props(graph, {EXPORTER_KEY: exporter})
    onnx.save(graph, str(path))
    return output_names


def at_least_two(value: torch.Tensor) -> torch.Tensor:
    """`value` repeated along batch and sequence where they are 1: torch.export fixes sizes 1 as constants."""
    for axis in (0, 1):
        if value.shape[axis] == 1:
            value = torch.cat([value, value], dim=axis)
    return value


def torchscript_dynamic_axes(
    inputs: dict[str, torch.Tensor], outputs: dict[str, Any], output_names: list[str]
) -> dict[str, dict[int, str]]:
    """The TorchScript exporter's `dynamic_axes`: batch and sequence of every input and output having them."""
    dynamic_axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in inputs}
    for name in output_names:
        # (batch, labels) for sentence heads, (batch, sequence, ...) for token heads
        axes = {0: "batch"}
        if outputs[name].dim() > 1 and outputs[name].shape[1] == inputs["input_ids"].shape[1]:
            axes[1] = "sequence"
        dynamic_axes[name] = axes
    return dynamic_axes


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
