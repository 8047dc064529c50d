"""Experiment tracking beyond scalar metrics: the git commit, W&B histograms, a table of predictions."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger

if TYPE_CHECKING:
    from nlpzoo.tasks import TaskSpec

log = logging.getLogger(__name__)


def git_state(repository: str | Path) -> dict[str, Any]:
    """The commit the code ran from and whether the work tree had uncommitted changes (None outside git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=repository, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


class RunMetadata(L.Callback):
    """Logs the git commit beside the resolved config to every logger, so a result names its code."""

    def __init__(self, repository: str) -> None:
        self.repository = repository

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            state = git_state(self.repository)
            for logger in trainer.loggers:
                logger.log_hyperparams({"git": state})


class WandbWatch(L.Callback):
    """Gradient and/or parameter histograms in W&B (`wandb.watch`); off unless `log` is set."""

    def __init__(
        self, log: Literal["gradients", "parameters", "all"] | None = None, log_freq: int = 100
    ) -> None:
        self.histograms = log
        self.log_freq = log_freq

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.histograms is None or not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.watch(module, log=self.histograms, log_freq=self.log_freq)


class BestCheckpointArtifact(L.Callback):
    """The best checkpoint by the monitored metric as a W&B model artifact, aliases `best` and `latest`.

    Lightning's `WandbLogger(log_model=True)` would also tag the newest file of the monitor-less
    `last_checkpoint` callback as `best`; this logs the one checkpoint the run summary calls best.
    """

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        monitored = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.monitor]
        loggers = [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        if not trainer.is_global_zero or not loggers or not monitored or not monitored[0].best_model_path:
            return
        import wandb

        checkpoint = monitored[0]
        for logger in loggers:
            artifact = wandb.Artifact(
                name=f"model-{logger.experiment.id}",
                type="model",
                metadata={
                    "score": float(cast(torch.Tensor, checkpoint.best_model_score)),  # set: it has a best
                    "monitor": checkpoint.monitor,
                    "mode": checkpoint.mode,
                    "original_filename": Path(checkpoint.best_model_path).name,
                },
            )
            artifact.add_file(checkpoint.best_model_path, name="model.ckpt")
            logger.experiment.log_artifact(artifact, aliases=["best", "latest"])


class PredictionTable(L.Callback):
    """Each validation epoch, a table of the first examples: text, gold and predicted label (W&B tables).

    Serves tasks whose labels are one class per example (`labels` of shape (batch,)); predictions
    come from the module's own `predict_step`, so the table shows what the objective decodes.
    """

    columns = ("text", "gold", "predicted", "score")

    def __init__(self, num_examples: int = 64, key: str = "val/predictions") -> None:
        self.num_examples = num_examples
        self.key = key
        self.rows: list[list[Any]] = []

    @staticmethod
    def table_loggers(trainer: L.Trainer) -> list[WandbLogger]:
        return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]

    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.rows = []

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or len(self.rows) >= self.num_examples:
            return
        labels = batch.get("labels") if isinstance(batch, dict) else None
        if not self.table_loggers(trainer) or not isinstance(labels, torch.Tensor) or labels.dim() != 1:
            return
        predictions = module.predict_step(batch, batch_idx)
        texts = trainer.datamodule.tokenizer.batch_decode(  # type: ignore[attr-defined]  # Lightning's connectors set it at run time
            batch["input_ids"], skip_special_tokens=True
        )
        names = cast("TaskSpec", module.spec).label_names  # a ZooModule's
        for text, gold, predicted in zip(texts, labels.tolist(), predictions, strict=True):
            gold_name = names[gold] if 0 <= gold < len(names) else gold
            self.rows.append([text, gold_name, predicted.get("label"), predicted.get("score")])
        del self.rows[self.num_examples :]

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not self.rows:
            return
        for logger in self.table_loggers(trainer):
            logger.log_table(
                key=self.key, columns=list(self.columns), data=self.rows, step=trainer.global_step
            )
