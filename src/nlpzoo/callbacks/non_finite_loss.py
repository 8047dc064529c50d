"""Stop, or skip the update, when the training loss is NaN or Inf: before the optimizer step uses it."""

from __future__ import annotations

import logging
from typing import Any, Literal

import lightning as L
import torch

from nlpzoo.errors import TrainingDivergedError

log = logging.getLogger(__name__)


class NonFiniteLossGuard(L.Callback):
    """`action="stop"` raises `TrainingDivergedError` naming the step, before backward, so the weights
    and the last checkpoint stay as they were; `action="skip"` drops that batch's gradients so the
    optimizer step changes nothing, and logs the step.

    Under DDP the decision is shared (any rank's bad loss counts), so every rank stops or skips alike.
    """

    def __init__(self, action: Literal["stop", "skip"] = "stop") -> None:
        if action not in ("stop", "skip"):
            raise ValueError(f"NonFiniteLossGuard action must be 'stop' or 'skip', got {action!r}")
        self.action = action
        self.skipped_steps: list[int] = []
        self._batch_idx = 0
        self._skip_this_step = False

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int) -> None:
        self._batch_idx = idx

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        bad = trainer.strategy.reduce_boolean_decision(not finite, all=False)
        if not bad:
            return
        value = "nan" if torch.isnan(loss.detach()).any() else "inf"
        where = f"global step {trainer.global_step} (epoch {trainer.current_epoch}, batch {self._batch_idx})"
        if self.action == "stop":
            raise TrainingDivergedError(
                f"training loss is {value} at {where}; stopped before the update, the last checkpoint is the "
                "last good one. Lower the learning rate, check the data, or set "
                "callbacks.non_finite_loss.action=skip to skip such batches"
            )
        self._skip_this_step = True
        self.skipped_steps.append(trainer.global_step)
        log.warning("training loss is %s at %s: skipping this batch's update", value, where)

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if self._skip_this_step:
            optimizer.zero_grad(set_to_none=True)  # parameters without a gradient are left untouched
            self._skip_this_step = False
