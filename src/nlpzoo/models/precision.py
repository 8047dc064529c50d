"""Mixed precision for the recurrent kernels: autocast's dtype where the CPU computes it natively, fp32 elsewhere.

Under CPU autocast, PyTorch hands the LSTM to oneDNN in autocast's dtype, and oneDNN builds a bf16 (fp16)
LSTM primitive only on CPUs with bf16 (fp16) instructions. On others, such as an AVX2-only AMD EPYC,
`trainer.precision=bf16-mixed` stops at the first step with "could not create a primitive descriptor for
the LSTM forward propagation primitive" (issue 13, item 4). There `run_recurrent` runs the RNN in fp32
with autocast off; embeddings, attention and heads around it keep autocast's dtype.

The decision is taken once per process: `NLPZOO_RECURRENT_FP32=1` forces fp32, `=0` autocast's dtype;
unset or `auto`, the CPU's flags decide (and `ONEDNN_MAX_CPU_ISA`, which caps what oneDNN may use).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import overload

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from nlpzoo.errors import ConfigError

log = logging.getLogger(__name__)

FORCE_VARIABLE = "NLPZOO_RECURRENT_FP32"
# The instructions oneDNN computes each low-precision dtype with, as torch.cpu reports them (cpuinfo).
NATIVE_INSTRUCTIONS = {
    torch.bfloat16: ("avx512_bf16", "amx_tile"),
    torch.float16: ("amx_fp16",),
}
# oneDNN's ISA names (for ONEDNN_MAX_CPU_ISA) in increasing order, and the first with each dtype's instructions.
ONEDNN_ISAS = ["SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
               "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16", "AVX10_1_512_AMX", "AVX512_CORE_AMX",
               "AVX10_1_512_AMX_FP16", "AVX512_CORE_AMX_FP16"]  # fmt: skip
FIRST_ONEDNN_ISA = {torch.bfloat16: "AVX512_CORE_BF16", torch.float16: "AVX512_CORE_FP16"}

RecurrentState = torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None


def cpu_computes_natively(dtype: torch.dtype) -> bool:
    """Whether this CPU has instructions for `dtype` (bf16: AVX512-BF16 or AMX; fp16: AMX-FP16) that oneDNN may use."""
    flags = NATIVE_INSTRUCTIONS.get(dtype, ())
    if not any(getattr(torch.cpu, f"_is_{flag}_supported", lambda: False)() for flag in flags):
        return False
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    return cap not in ONEDNN_ISAS or ONEDNN_ISAS.index(cap) >= ONEDNN_ISAS.index(FIRST_ONEDNN_ISA[dtype])


@functools.cache
def recurrent_runs_in_fp32(dtype: torch.dtype) -> bool:
    """Whether RNN/LSTM/GRU layers run in fp32 under CPU autocast to `dtype`; decided (and logged) once."""
    forced = os.environ.get(FORCE_VARIABLE, "auto").strip().lower()
    if forced not in ("auto", "1", "0"):
        raise ConfigError(f"{FORCE_VARIABLE}={forced!r}: use 1 (fp32), 0 (autocast's dtype) or auto")
    if forced != "auto":
        fp32 = forced == "1"
        log.info(
            "%s=%s: recurrent layers run in %s under %s autocast",
            FORCE_VARIABLE,
            forced,
            "fp32" if fp32 else "that dtype",
            dtype,
        )
        return fp32
    if cpu_computes_natively(dtype):
        return False
    log.info(
        # With oneDNN capped at AVX2, a bf16 Linear (64x256 @ 256x6000) ran 11x slower than fp32 (688 vs 61 ms).
        "this CPU has no native %s instructions (%s): recurrent layers run in fp32 under autocast "
        "(the other layers' bf16 matrix products are emulated, often slower than 32-true)",
        dtype,
        "/".join(NATIVE_INSTRUCTIONS.get(dtype, ("none known",))),
    )
    return True


def autocast_leaves_recurrence(device: torch.device) -> bool:
    """Whether a recurrence on `device` must run in fp32 with autocast off (CPU autocast to a dtype it lacks)."""
    return (
        device.type == "cpu"
        and torch.is_autocast_enabled("cpu")
        and recurrent_runs_in_fp32(torch.get_autocast_dtype("cpu"))
    )


FinalState = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # h_n, or an LSTM's (h_n, c_n)


@overload
def run_recurrent(
    rnn: nn.RNNBase, inputs: torch.Tensor, state: RecurrentState = None
) -> tuple[torch.Tensor, FinalState]: ...
@overload
def run_recurrent(
    rnn: nn.RNNBase, inputs: PackedSequence, state: RecurrentState = None
) -> tuple[PackedSequence, FinalState]: ...
def run_recurrent(
    rnn: nn.RNNBase, inputs: torch.Tensor | PackedSequence, state: RecurrentState = None
) -> tuple[torch.Tensor | PackedSequence, FinalState]:
    """`rnn(inputs, state)`, in fp32 with autocast off where the CPU cannot run it in autocast's dtype.

    Every recurrent family calls its nn.RNN/LSTM/GRU through here; outputs are then fp32 on that path.
    """
    device = (inputs.data if isinstance(inputs, PackedSequence) else inputs).device
    if not autocast_leaves_recurrence(device):
        return rnn(inputs, state)
    if isinstance(state, tuple):  # an LSTM's (hidden, cell)
        state = (state[0].float(), state[1].float())
    elif state is not None:
        state = state.float()
    with torch.autocast("cpu", enabled=False):
        return rnn(inputs.float(), state)
