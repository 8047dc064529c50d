"""`ZooModule`: the LightningModule every model family extends.

A family writes its layers and `forward(batch) -> outputs`; the shared task objective turns
outputs into loss, metrics and predictions, and this class does the Lightning wiring: steps,
metric logging per split, optimizer and schedule from config, and a self-describing checkpoint
(family, `TaskSpec`, tokenizer files, data config), so `nlpzoo.checkpoint.load_module` rebuilds it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from nlpzoo.errors import UnsupportedTaskError
from nlpzoo.models.optimization import build_optimizer, build_scheduler
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec, build_objective

CHECKPOINT_KEY = "nlpzoo"


def plain(value: Any) -> Any:
    """Config nodes as plain dicts/lists, so hyper-parameters load with `weights_only=True`."""
    if isinstance(value, DictConfig) or OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


class ZooModule(L.LightningModule):
    """Shared training logic for all families; subclasses set `supported_tasks` and build layers."""

    supported_tasks: ClassVar[tuple[TaskKind, ...]] = ()
    family: ClassVar[str] = "abstract"

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec if isinstance(spec, TaskSpec) else TaskSpec.from_dict(spec)
        self.check_supported(self.spec.kind)
        self.optimizer_config = plain(optimizer) or {"_target_": "torch.optim.AdamW", "lr": 1e-3}
        self.scheduler_config = plain(scheduler)
        self.objective = build_objective(self.spec)
        metrics = self.objective.metrics()
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.checkpoint_extras: dict[str, Any] = {}

    @classmethod
    def check_supported(cls, kind: TaskKind) -> None:
        """Fail before training when this family has no head for the task kind."""
        if kind not in cls.supported_tasks:
            served = ", ".join(k.value for k in cls.supported_tasks) or "none"
            raise UnsupportedTaskError(
                f"model family '{cls.family}' cannot serve task '{kind.value}'; it serves: {served}"
            )

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Family-specific checks of the whole run config, before any data is read (default: none)."""

    def save_family_hyperparameters(self, **hparams: Any) -> None:
        """Record constructor arguments (plain values only) so the checkpoint can rebuild the module."""
        self.save_hyperparameters(
            {
                "spec": self.spec.to_dict(),
                "optimizer": self.optimizer_config,
                "scheduler": self.scheduler_config,
                **{k: plain(v) for k, v in hparams.items()},
            }
        )

    # --- steps ---------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> Outputs:
        raise NotImplementedError

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        outputs = self(batch)
        loss = self.objective.loss(outputs, batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size_of(batch))
        return loss

    def _eval_step(self, batch: Batch, split: str) -> None:
        outputs = self(batch)
        loss = self.objective.loss(outputs, batch)
        metrics = self.val_metrics if split == "val" else self.test_metrics
        self.objective.update_metrics(metrics, outputs, batch)
        size = batch_size_of(batch)
        self.log(f"{split}/loss", loss, prog_bar=True, batch_size=size, sync_dist=True)
        self.log_dict(metrics, prog_bar=True, batch_size=size)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int) -> list[dict[str, Any]]:
        return self.objective.predict(self(batch), batch)

    # --- optimization --------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.optimizer_config, self.named_parameters())
        if not self.scheduler_config:
            return optimizer
        scheduler = build_scheduler(self.scheduler_config, optimizer, self.trainer.estimated_stepping_batches)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- checkpoints ---------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "family_class": f"{type(self).__module__}.{type(self).__qualname__}",
            "spec": self.spec.to_dict(),
            **self.checkpoint_extras,
        }


def batch_size_of(batch: Batch) -> int:
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return value.shape[0]
    return 1


__all__ = ["CHECKPOINT_KEY", "ZooModule", "batch_size_of", "plain"]
