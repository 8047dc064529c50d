"""Checkpoints: atomic writes that a kill -9 cannot corrupt, weights-only loads that never run pickled
code, and resumes refused when the checkpoint was trained as another family or task."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nlpzoo.checkpoint import load_module, read_checkpoint
from nlpzoo.checkpoint_io import AtomicCheckpointIO, partial_files
from nlpzoo.errors import CheckpointError
from nlpzoo.training import run_training
from tests.conftest import compose_config
from tests.faults import ROOT, environment, tiny_run_args


class WritesAFile:
    """Unpickling this runs `Path(marker).touch()`: the proof that pickled code was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.fixture
def malicious_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "code-was-executed"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "nlpzoo": WritesAFile(marker)}, path)
    return path, marker


def test_a_checkpoint_holding_pickled_code_is_refused_without_running_it(malicious_checkpoint) -> None:
    path, marker = malicious_checkpoint
    with pytest.raises(CheckpointError, match=r"refusing to load .*evil\.ckpt.*Unsupported global"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_module(path)
    with pytest.raises(CheckpointError):  # the Trainer's plugin, even when asked for weights_only=False
        AtomicCheckpointIO().load_checkpoint(path, weights_only=False)
    assert not marker.exists()


def test_train_py_refuses_to_resume_from_a_malicious_checkpoint(
    malicious_checkpoint, shared_data: Path
) -> None:
    path, marker = malicious_checkpoint
    args = [a for a in tiny_run_args(shared_data, path.parent / "run") if not a.startswith("ckpt_path")]
    result = subprocess.run(
        [sys.executable, "train.py", *args, f"ckpt_path={path}"],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "nlpzoo: error: refusing to load" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A real one-epoch checkpoint of the recurrent family on SST-2."""
    run_dir = tmp_path_factory.mktemp("trained")
    args = [a for a in tiny_run_args(shared_data, run_dir) if not a.startswith("hydra.")]
    run_training(compose_config([*args, "trainer.max_epochs=1", "data.max_train_samples=64"], run_dir))
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("family_class", "nlpzoo.models.transformer.TransformerModel", "holds a 'nlpzoo.models.transformer"),
        ("kind", "token_classification", "trained for task 'token_classification'"),
    ],
)
def test_resuming_from_another_family_or_task_is_refused_before_training(
    trained_checkpoint: Path, tmp_path: Path, shared_data: Path, field: str, value: str, message: str
) -> None:
    checkpoint = read_checkpoint(trained_checkpoint)
    if field == "kind":
        checkpoint["nlpzoo"]["spec"]["kind"] = value
    else:
        checkpoint["nlpzoo"][field] = value
    foreign = tmp_path / "foreign.ckpt"
    torch.save(checkpoint, foreign)

    args = [a for a in tiny_run_args(shared_data, tmp_path) if not a.startswith(("hydra.", "ckpt_path"))]
    started = time.monotonic()
    with pytest.raises(CheckpointError, match=message):
        run_training(compose_config([*args, f"ckpt_path={foreign}"], tmp_path / "run"))
    assert time.monotonic() - started < 10  # refused before any data is read
    assert not (tmp_path / "run" / "checkpoints").exists()


WRITE_FOREVER = """
import sys, torch
from pathlib import Path
from nlpzoo.checkpoint_io import AtomicCheckpointIO
big = {"state_dict": {"weight": torch.ones(64 * 1024 * 1024 // 4)}}  # 64 MiB per save
while True:
    AtomicCheckpointIO().save_checkpoint(big, Path(sys.argv[1]))
"""


def test_kill_9_during_a_save_leaves_the_previous_checkpoint_loadable(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"weight": torch.zeros(3)}, "global_step": 7}, target)
    writer = subprocess.Popen([sys.executable, "-c", WRITE_FOREVER, str(target)], env=environment())
    try:
        deadline = time.monotonic() + 120
        while not any(p.stat().st_size > 0 for p in partial_files(target) if p.exists()):
            assert writer.poll() is None and time.monotonic() < deadline, "the writer never started a save"
            time.sleep(0.001)
        writer.kill()  # SIGKILL while the temporary file is being written
    finally:
        writer.kill()
        writer.wait()
    assert partial_files(target), "the kill landed after the rename; nothing was interrupted"
    weight = read_checkpoint(target)["state_dict"][
        "weight"
    ]  # loads: the last complete save, whichever it was
    assert torch.equal(weight, torch.zeros(3)) or bool(
        (weight == 1).all() and weight.numel() == 16 * 1024 * 1024
    )

    AtomicCheckpointIO().save_checkpoint({"global_step": 8}, target)  # the next save clears the leftover
    assert not partial_files(target) and read_checkpoint(target)["global_step"] == 8
    assert os.listdir(tmp_path) == ["last.ckpt"]
