"""Test-only callback: lets a test send a real signal to a training process at a chosen step."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L


class PauseAtStep(L.Callback):
    """After optimizer step `step`, write the step to `marker` and wait (at most `timeout` seconds)
    for SIGTERM; a SIGKILL simply ends the wait. Pauses once per marker file, so a relaunch of the
    same command runs straight through."""

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
