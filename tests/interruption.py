"""A callback that simulates a crash at a chosen point of training, for resume tests."""

from __future__ import annotations

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
