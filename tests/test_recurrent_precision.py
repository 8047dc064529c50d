"""bf16-mixed on any x86-64 CPU: recurrent kernels run in fp32 under autocast where the CPU lacks bf16
instructions (issue 13, item 4), decided once from the CPU's flags or forced with NLPZOO_RECURRENT_FP32."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from nlpzoo.errors import ConfigError
from nlpzoo.models import RecurrentModel, recurrence_by_length
from nlpzoo.models import precision as precision_policy
from nlpzoo.models.precision import FORCE_VARIABLE, cpu_computes_natively, recurrent_runs_in_fp32
from nlpzoo.tasks import TaskKind
from tests.conftest import ROOT
from tests.test_scratch_families import CASES, TINY_RECURRENT, classification_batch, make_spec

RECURRENT_CASES = [name for name in CASES if name.startswith(("lstm", "bilstm", "gru", "seq2seq"))]


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A fresh, undecided policy (and a clean environment) for the test; the process's decision after it."""
    monkeypatch.delenv(FORCE_VARIABLE, raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    recurrent_runs_in_fp32.cache_clear()
    yield monkeypatch
    recurrent_runs_in_fp32.cache_clear()


def cpuinfo_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return {
        flag
        for line in text.splitlines()
        if line.startswith("flags")
        for flag in line.split(":", 1)[1].split()
    }


def test_detection_follows_the_cpu_flags_the_onednn_cap_and_the_override(policy: pytest.MonkeyPatch) -> None:
    flags = cpuinfo_flags()
    if flags:  # Linux: torch's cpuinfo agrees with the kernel's flags
        assert cpu_computes_natively(torch.bfloat16) == bool({"avx512_bf16", "amx_bf16"} & flags)
        assert recurrent_runs_in_fp32(torch.bfloat16) == (not {"avx512_bf16", "amx_bf16"} & flags)

    # An AVX2-only CPU (the AMD EPYC of the issue): no bf16 instructions, so fp32, and one log line says so.
    policy.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    policy.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    recurrent_runs_in_fp32.cache_clear()
    assert not cpu_computes_natively(torch.bfloat16)
    assert recurrent_runs_in_fp32(torch.bfloat16)

    # A CPU with AVX512-BF16, unless oneDNN is capped below it.
    policy.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    recurrent_runs_in_fp32.cache_clear()
    assert not recurrent_runs_in_fp32(torch.bfloat16)
    policy.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    recurrent_runs_in_fp32.cache_clear()
    assert recurrent_runs_in_fp32(torch.bfloat16)
    policy.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")  # a cap above bf16 leaves it
    assert cpu_computes_natively(torch.bfloat16)

    # Forced either way, whatever the CPU.
    for value, fp32 in (("1", True), ("0", False)):
        policy.setenv(FORCE_VARIABLE, value)
        recurrent_runs_in_fp32.cache_clear()
        assert recurrent_runs_in_fp32(torch.bfloat16) is fp32
    policy.setenv(FORCE_VARIABLE, "yes")
    recurrent_runs_in_fp32.cache_clear()
    with pytest.raises(ConfigError, match=FORCE_VARIABLE):
        recurrent_runs_in_fp32(torch.bfloat16)


def test_the_decision_is_taken_and_logged_once(
    policy: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    policy.setenv(FORCE_VARIABLE, "1")
    module = RecurrentModel(
        make_spec(TaskKind.TEXT_CLASSIFICATION, label_names=["no", "yes"]), **TINY_RECURRENT
    )
    batch = classification_batch(torch.Generator().manual_seed(0))
    with (
        caplog.at_level("INFO", logger=precision_policy.__name__),
        torch.autocast("cpu", dtype=torch.bfloat16),
    ):
        for _ in range(3):
            module(batch)
    assert [r.getMessage() for r in caplog.records] == [
        f"{FORCE_VARIABLE}=1: recurrent layers run in fp32 under torch.bfloat16 autocast"
    ]


def rnn_input_dtypes(module: nn.Module, monkeypatch: pytest.MonkeyPatch) -> list[tuple[torch.dtype, bool]]:
    """Records (input dtype, CPU autocast on) at every recurrence the module runs: calls of its
    nn.RNN/LSTM/GRU layers and the per-direction kernels the CPU encoders call in their place."""
    seen: list[tuple[torch.dtype, bool]] = []

    def record(_: nn.Module, args: tuple) -> None:
        inputs = args[0].data if isinstance(args[0], nn.utils.rnn.PackedSequence) else args[0]
        seen.append((inputs.dtype, torch.is_autocast_enabled("cpu")))

    for layer in module.modules():
        if isinstance(layer, nn.RNNBase):
            layer.register_forward_pre_hook(record)
    for mode, kernel in list(recurrence_by_length.KERNELS.items()):

        def recording(*args: object, kernel: Callable[..., object] = kernel) -> object:
            record(nn.Identity(), args)
            return kernel(*args)

        monkeypatch.setitem(recurrence_by_length.KERNELS, mode, recording)
    return seen


@pytest.mark.parametrize("case", RECURRENT_CASES)
def test_forced_fp32_recurrent_path_trains_and_decodes_under_bf16_autocast(
    policy: pytest.MonkeyPatch, case: str
) -> None:
    """Each recurrent family: a bf16-autocast training step and an evaluation forward (decoding included)."""
    policy.setenv(FORCE_VARIABLE, "1")
    build, make_batch = CASES[case]
    torch.manual_seed(0)
    module = build()
    seen = rnn_input_dtypes(module, policy)
    batch = make_batch(torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    module.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = module.objective.loss(module(batch), batch)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in module.parameters())
    module.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = module(batch)
    assert all(torch.isfinite(v.float()).all() for v in outputs.values() if isinstance(v, torch.Tensor))
    assert seen and set(seen) == {(torch.float32, False)}  # every RNN call: fp32, autocast off


@pytest.mark.skipif(
    not cpu_computes_natively(torch.bfloat16),
    reason="the native path needs bf16 instructions: oneDNN cannot build a bf16 LSTM here (the policy never forces it)",
)
def test_native_path_keeps_autocast_for_the_lstm(policy: pytest.MonkeyPatch) -> None:
    policy.setenv(FORCE_VARIABLE, "0")
    module = RecurrentModel(
        make_spec(TaskKind.TEXT_CLASSIFICATION, label_names=["no", "yes"]), **TINY_RECURRENT
    )
    seen = rnn_input_dtypes(module, policy)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        module(classification_batch(torch.Generator().manual_seed(0)))
    assert seen and set(seen) == {(torch.float32, True)}  # autocast itself casts oneDNN's LSTM layer to bf16


CHAR_LSTM = [
    "data=tinyshakespeare",
    "tokenizer=char",
    "data.block_size=32",
    "data.max_train_samples=300",
    "data.max_val_samples=50",
    "data.max_test_samples=50",
    "model=lstm",
    "model.bidirectional=false",
    "model.embedding_dim=16",
    "model.hidden_size=16",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
    "logger=csv",
]


@pytest.mark.slow  # a train.py subprocess: ~20 s alone, longer on a loaded machine
def test_bf16_mixed_trains_the_lstm_where_onednn_has_no_bf16(tmp_path: Path, shared_data: Path) -> None:
    """train.py as on an AVX2-only CPU: oneDNN capped at AVX2 cannot build a bf16 LSTM, on any x86 machine.

    oneDNN gets the LSTM whenever a batch's sequences have one length (every LM block; a classifier's batch
    of equal-length sentences, hence the issue's "depends on shapes"). The policy sees the cap, says so
    once, and the run trains in bf16-mixed.
    """
    run_dir = tmp_path / "bf16_avx2"
    environment = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "PYTHONPATH": str(ROOT / "src")}
    environment.pop(FORCE_VARIABLE, None)
    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            *CHAR_LSTM,
            f"data.path={shared_data / 'tinyshakespeare' / 'input.txt'}",
            "trainer.precision=bf16-mixed",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert output.count("recurrent layers run in fp32 under autocast") == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["config"]["trainer"]["precision"] == "bf16-mixed"
    assert 1.0 < summary["metrics"]["test/ppl"] < 200.0
