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
