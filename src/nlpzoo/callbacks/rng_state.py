"""Random-number-generator state in checkpoints, so a resumed run draws the same dropout masks and shuffles."""

from __future__ import annotations

import random
from typing import Any, cast

import lightning as L
import numpy as np
import torch


class RngStateCheckpoint(L.Callback):
    """Saves the Python, NumPy and torch CPU generators with each checkpoint and restores them on resume.

    Lightning restores weights, optimizer and loop counters but not these generators; without
    them a resumed run shuffles and drops out differently from an uninterrupted one. The saved
    state is applied when the next training epoch (or, resuming mid-epoch, batch) starts, not at load time, because the sanity
    check and every DataLoader iterator created in between draw from the global generator.
    """

    def __init__(self) -> None:
        self.pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        numpy_state = cast(tuple[Any, ...], np.random.get_state())  # the legacy tuple (the default)
        return {
            "python": list(random.getstate()[1]),
            "python_version": random.getstate()[0],
            "python_gauss": random.getstate()[2],
            "numpy_keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "numpy_position": int(numpy_state[2]),
            "numpy_gauss": [int(numpy_state[3]), float(numpy_state[4])],
            "torch": torch.get_rng_state(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.pending = state_dict

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_pending()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int
    ) -> None:
        self._restore_pending()  # a mid-epoch resume starts no epoch

    def _restore_pending(self) -> None:
        if self.pending is not None:
            restore_rng_state(self.pending)
            self.pending = None


def restore_rng_state(state_dict: dict[str, Any]) -> None:
    """Set the Python, NumPy and torch CPU generators to a state saved by `RngStateCheckpoint`."""
    random.setstate((state_dict["python_version"], tuple(state_dict["python"]), state_dict["python_gauss"]))
    has_gauss, cached_gauss = state_dict["numpy_gauss"]
    np.random.set_state(
        (
            "MT19937",
            state_dict["numpy_keys"].numpy().astype(np.uint32),
            state_dict["numpy_position"],
            has_gauss,
            cached_gauss,
        )
    )
    torch.set_rng_state(state_dict["torch"])
