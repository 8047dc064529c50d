"""Callbacks that interrupt training at a chosen point, for resume and fault tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L


class SimulatedCrash(RuntimeError):
    """Raised by `CrashAtEpochStart`; the test expects it."""


class CrashAtEpochStart(L.Callback):
    """Crashes as training epoch `epoch` starts, after the previous epoch's checkpoint was written."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise SimulatedCrash(f"simulated crash at the start of epoch {self.epoch}")


class PauseAtStep(L.Callback):
    """After optimizer step `step`, write the step to `marker` and wait (at most `timeout` seconds) for
    SIGTERM, so a test can signal a real training process at a known step; SIGKILL just ends the wait.
    Pauses once per marker file, so a relaunch of the same command runs straight through."""

    def __init__(self, step: int, marker: str, timeout: float = 120.0) -> None:
        self.step = step
        self.marker = Path(marker)
        self.timeout = timeout

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if trainer.global_step != self.step or self.marker.exists():
            return
        self.marker.write_text(str(trainer.global_step))
        deadline = time.monotonic() + self.timeout
        while not trainer.received_sigterm and time.monotonic() < deadline:
            time.sleep(0.02)


class SlowEvaluation(L.Callback):
    """Makes each batch of the post-fit `stage` pass ("validate" or "test") take `seconds` longer and writes
    the number of its batches done to `marker`, so a test can signal a real run while that pass is under way."""

    def __init__(self, stage: str, marker: str, seconds: float) -> None:
        self.stage = stage
        self.marker = Path(marker)
        self.seconds = seconds
        self.batches = 0

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._slow_down(trainer)

    def on_test_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._slow_down(trainer)

    def _slow_down(self, trainer: L.Trainer) -> None:
        if trainer.state.fn != self.stage:  # fit's own validation runs at full speed
            return
        self.batches += 1
        self.marker.write_text(str(self.batches))
        time.sleep(self.seconds)
