"""The README's speed benchmarks run as typed, at a few steps: each prints its ratio against the baseline
it measures in the same run. (Their numbers are measured, never asserted: only that they are printed.)"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, python

NUMBER = r"([0-9][0-9,]*\.?[0-9]*)"


def run_benchmark(*command: str) -> str:
    result = subprocess.run([python(), *command], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def printed(pattern: str, output: str) -> list[float]:
    match = re.search(pattern, output)
    assert match, f"{pattern!r} not in:\n{output}"
    return [float(group.replace(",", "")) for group in match.groups()]


@pytest.mark.usefixtures("shared_data")
def test_gpt_lightning_vs_plain_prints_tokens_per_second_mfu_and_their_ratio() -> None:
    output = run_benchmark(
        "benchmarks/gpt_lightning_vs_torch.py",
        "--steps",
        "6",
        "--warmup",
        "2",
        "--rounds",
        "1",
        "--dim",
        "32",
    )
    (plain, plain_mfu) = printed(rf"plain PyTorch loop : +{NUMBER} tokens/s +MFU +{NUMBER}%", output)
    (lightning, lightning_mfu) = printed(rf"Lightning module +: +{NUMBER} tokens/s +MFU +{NUMBER}%", output)
    (ratio,) = printed(rf"Lightning / plain +: {NUMBER}", output)
    assert plain > 0 and lightning > 0 and plain_mfu > 0 and lightning_mfu > 0
    assert math.isclose(ratio, lightning / plain, rel_tol=0.01)


def test_transformer_vs_torch_prints_tokens_per_second_their_ratio_and_both_losses(shared_data: Path) -> None:
    output = run_benchmark(
        "benchmarks/transformer_vs_torch.py",
        f"--data={shared_data / 'multi30k'}",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--rounds",
        "1",
        "--val-batches",
        "1",
    )
    (torch_speed,) = printed(rf"torch.nn.Transformer loop : +{NUMBER} tokens/s", output)
    (ours,) = printed(rf"nlpzoo Transformer +: +{NUMBER} tokens/s", output)
    (ratio,) = printed(rf"nlpzoo / torch +: {NUMBER}", output)
    ours_loss, torch_loss, loss_ratio = printed(
        rf"nlpzoo {NUMBER}, torch {NUMBER} \(nlpzoo / torch {NUMBER};", output
    )
    assert torch_speed > 0 and ours > 0
    assert math.isclose(ratio, ours / torch_speed, rel_tol=0.01)
    # a few steps from the same init on the same batches: both losses still near log(vocabulary)
    assert 0 < ours_loss < 20 and 0 < torch_loss < 20
    assert math.isclose(loss_ratio, ours_loss / torch_loss, rel_tol=0.01)
