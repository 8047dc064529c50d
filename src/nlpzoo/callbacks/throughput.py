"""Training throughput (examples and tokens per second) for the run summary."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch


class ThroughputMeter(L.Callback):
    """Counts training examples and non-padding tokens over the time spent in training batches."""

    def __init__(self) -> None:
        self.examples = 0
        self.tokens = 0
        self.seconds = 0.0
        self._started = 0.0

    def on_train_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: Any, idx: int
    ) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        self.seconds += time.perf_counter() - self._started
        mask = batch.get("attention_mask") if isinstance(batch, dict) else None
        ids = batch.get("input_ids") if isinstance(batch, dict) else None
        if isinstance(mask, torch.Tensor):
            self.examples += mask.shape[0]
            self.tokens += int(mask.sum())
        elif isinstance(ids, torch.Tensor):
            self.examples += ids.shape[0]
            self.tokens += ids.numel()

    def summary(self) -> dict[str, float]:
        seconds = max(self.seconds, 1e-9)
        return {
            "train_examples_per_second": self.examples / seconds,
            "train_tokens_per_second": self.tokens / seconds,
            "train_batch_seconds": self.seconds,
        }
