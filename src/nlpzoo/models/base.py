"""`ZooModule`: the LightningModule every model family extends.

A family writes its layers and `forward(batch) -> outputs`; the shared task objective turns
outputs into loss, metrics and predictions, and this class does the Lightning wiring: steps,
metric logging per split, optimizer and schedule from config, and a self-describing checkpoint
(family, `TaskSpec`, tokenizer files, data config), so `nlpzoo.checkpoint.load_module` rebuilds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, ClassVar

import lightning as L
import torch
from hydra.utils import get_object
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.utilities import GradClipAlgorithmType
from omegaconf import DictConfig, OmegaConf, open_dict
from torchmetrics import MetricCollection

from nlpzoo.errors import ConfigError, UnsupportedTaskError
from nlpzoo.loggers import quiet_lightning_logging
from nlpzoo.models.optimization import build_optimizer, lightning_scheduler, unfused_when_clipping
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec, build_objective
from nlpzoo.tokenizers.word import detokenize, splits_punctuation

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

CHECKPOINT_KEY = "nlpzoo"
quiet_lightning_logging()  # the entrypoints import Lightning after Hydra configured logging

log = logging.getLogger(__name__)


def configured_task(cfg: DictConfig) -> TaskKind:
    """The run's task kind, from its data config's class, before any data is read."""
    return get_object(cfg.data._target_).task_kind


def fit_to_task(node: DictConfig, key: str, value: Any, why: str) -> None:
    """Set `node.key` to the only value the task allows, and say so in the log."""
    with open_dict(node):
        node[key] = value
    typed = "null" if value is None else str(value).lower() if isinstance(value, bool) else value  # as typed
    log.info("%s: %s=%s", why, node._get_full_key(key), typed)


def plain(value: Any) -> Any:
    """Config nodes as plain dicts/lists, so hyper-parameters load with `weights_only=True`."""
    if isinstance(value, DictConfig) or OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


class ZooModule(L.LightningModule):
    """Shared training logic for all families; subclasses set `supported_tasks` and build layers.

    A from-scratch family lists its hyper-parameters once, as the fields of its `config_class`
    dataclass (nanoGPT's `GPTConfig`): the keyword arguments become `self.config`, the preflight
    checks `model.*` keys against its fields, and the checkpoint saves them.
    """

    supported_tasks: ClassVar[tuple[TaskKind, ...]] = ()
    family: ClassVar[str] = "abstract"
    decoder_only: ClassVar[bool] = False  # reads seq2seq data as prompt/response sequences (data.prompt)
    config_class: ClassVar[type | None] = None
    packs_sequences: ClassVar[bool] = False  # reads packed blocks' document and position ids (data.packing)

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        objective: dict[str, Any] | None = None,
        **hyperparameters: Any,
    ) -> None:
        super().__init__()
        self.spec = spec if isinstance(spec, TaskSpec) else TaskSpec.from_dict(spec)
        self.check_supported(self.spec.kind)
        self.check_seq2seq_format(self.spec.kind, self.spec.prompt)
        if self.config_class is not None:
            self.config = self.config_class(**hyperparameters)
        elif hyperparameters:
            raise TypeError(f"{type(self).__name__} got unexpected arguments: {', '.join(hyperparameters)}")
        self.optimizer_config = plain(optimizer) or {"_target_": "torch.optim.AdamW", "lr": 1e-3}
        self.scheduler_config = plain(scheduler)
        self.objective_config = plain(objective) or {}
        self.objective = build_objective(self.spec, self.objective_config)
        metrics = self.objective.metrics()
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = self.objective.test_metrics().clone(prefix="test/")
        self.metric_tables: dict[str, torch.Tensor] = {}  # non-scalar results (confusion matrix) for plots
        self.checkpoint_extras: dict[str, Any] = {}
        self.save_family_hyperparameters()

    @classmethod
    def check_supported(cls, kind: TaskKind) -> None:
        """Fail before training when this family has no head for the task kind."""
        if kind not in cls.supported_tasks:
            served = ", ".join(k.value for k in cls.supported_tasks) or "none"
            raise UnsupportedTaskError(
                f"model family '{cls.family}' cannot serve task '{kind.value}'; it serves: {served}"
            )

    @classmethod
    def check_seq2seq_format(cls, kind: TaskKind, prompt: str | None) -> None:
        """Seq2seq pairs come as one prompt/response sequence (`data.prompt`) to decoder-only families
        and as a source and a target to the others; each refuses the other's batches."""
        if kind != TaskKind.SEQ2SEQ or (prompt is not None) == cls.decoder_only:
            return
        if cls.decoder_only:
            raise ConfigError(
                f"model family '{cls.family}' reads seq2seq pairs as prompt/response sequences: give the "
                "prompt around the source, e.g. data.prompt='Summarize the dialogue:\\n{source}\\nSummary:'"
            )
        raise ConfigError(
            f"data.prompt serves seq2seq pairs to decoder-only models; model family '{cls.family}' reads "
            "the source and the target apart: drop data.prompt (data.prompt=null)"
        )

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Family-specific checks of the whole run config, before any data is read (default: none).

        A family fits its preset to the task here (`fit_to_task`) where only one setting can work,
        and otherwise raises a `ConfigError` that names the override to type.
        """

    def save_family_hyperparameters(self, **hparams: Any) -> None:
        """Record the constructor's arguments (plain values only) so the checkpoint can rebuild the module:
        the shared ones, the fields of `self.config`, and `hparams` of families without a config class."""
        config = asdict(self.config) if self.config_class is not None else {}
        self.save_hyperparameters(
            {
                "spec": self.spec.to_dict(),
                "optimizer": self.optimizer_config,
                "scheduler": self.scheduler_config,
                # Only when set, so families written without an `objective` argument still reload.
                **({"objective": self.objective_config} if self.objective_config else {}),
                **{k: plain(v) for k, v in {**config, **hparams}.items()},
            },
            # The loggers get the run's whole resolved config (training.run_training); these carry the
            # spec, whose word lists alone take seconds to write as YAML for a word-vector corpus.
            logger=False,
        )

    # --- steps ---------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> Outputs:
        raise NotImplementedError

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        outputs = self(batch)
        loss = self.objective.loss(outputs, batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size_of(batch))
        for name, value in self.objective.training_logs(outputs, batch).items():
            self.log(f"train/{name}", value, batch_size=batch_size_of(batch))
        return loss

    def _eval_step(self, batch: Batch, split: str) -> None:
        outputs = self(batch)
        beam_size = self.objective.test_beam_size
        if split == "test" and beam_size:  # beside the family's own (greedy) decoding
            outputs["beam_generated_ids"] = self.beam_search(batch, beam_size)  # (B, S')
        loss = self.objective.loss(outputs, batch)
        self.objective.update_metrics(self._metrics(split), outputs, batch)
        self.log(f"{split}/loss", loss, prog_bar=True, batch_size=batch_size_of(batch), sync_dist=True)

    def _metrics(self, split: str) -> MetricCollection:
        return self.val_metrics if split == "val" else self.test_metrics

    def _log_epoch_metrics(self, split: str) -> None:
        """Compute each metric once over the whole split (corpus BLEU, span F1, best QA window),
        synced across processes; log the scalars, keep the rest (confusion matrix) in `metric_tables`."""
        metrics = self._metrics(split)
        if not any(metric.update_called for metric in metrics.values(copy_state=False)):
            return
        values = metrics.compute()
        metrics.reset()
        scalars = {name: value.float() for name, value in values.items() if value.numel() == 1}
        self.metric_tables.update({name: value.cpu() for name, value in values.items() if value.numel() > 1})
        monitored = f"{split}/{self.objective.monitor}"
        self.log_dict({k: v for k, v in scalars.items() if k != monitored}, sync_dist=True)
        if monitored in scalars:
            self.log(monitored, scalars[monitored], prog_bar=True, sync_dist=True)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")

    def beam_search(self, batch: Batch, beam_size: int) -> torch.Tensor:
        """(B, S_src) sources -> (B, S') ids decoded with `beam_size` beams (the seq2seq families' `generate`)."""
        generate = getattr(self, "generate", None)
        if generate is None:
            raise ConfigError(
                f"model family '{self.family}' has no beam search: unset model.objective.test_beam_size"
            )
        return generate(batch, beam_size=beam_size)

    def use_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Give the objective the text side of ids (generation metrics, readable predictions)."""
        self.objective.decode = BatchDecode(tokenizer)

    def predict_step(self, batch: Batch, batch_idx: int) -> list[dict[str, Any]]:
        return self.objective.predict(self(batch), batch)

    def without_adapter(self) -> AbstractContextManager[Any]:
        """The model as it was built, adapters (LoRA) switched off inside the block; here: as it is."""
        return nullcontext()

    def word_vectors(self) -> torch.Tensor | None:
        """The word vectors (vocab, dim) in token-id order, worth projecting in the run's plots; None if not."""
        return None

    # --- optimization --------------------------------------------------------------------------
    def lr_scale(self) -> Callable[[str], float] | None:
        """Learning-rate multiplier per parameter name (e.g. layer-wise decay); None: one rate for all."""
        return None

    def configure_optimizers(self) -> Any:
        trainer = self._trainer  # None when called outside a Trainer (tools, tests)
        precision, clip = (trainer.precision, trainer.gradient_clip_val) if trainer else ("32-true", None)
        config = unfused_when_clipping(self.optimizer_config, precision, clip)
        optimizer = build_optimizer(config, self.named_parameters(), lr_scale=self.lr_scale())
        if not self.scheduler_config:
            return optimizer
        steps = self.trainer.estimated_stepping_batches
        return {
            "optimizer": optimizer,
            "lr_scheduler": lightning_scheduler(self.scheduler_config, optimizer, steps),
        }

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Lightning's clipping, except that a fused optimizer's gradients clip under bf16-mixed too:
        Lightning refuses fused optimizers under any mixed precision, but only fp16's grad scaler leaves
        the gradients scaled; bf16's are the true ones (the fused AdamW step is ~5x the unfused on CPU)."""
        plugin = self.trainer.precision_plugin
        if gradient_clip_val and isinstance(plugin, MixedPrecision) and plugin.scaler is None:
            algorithm = GradClipAlgorithmType(gradient_clip_algorithm or GradClipAlgorithmType.NORM)
            Precision.clip_gradients(plugin, optimizer, gradient_clip_val, algorithm)
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    # --- checkpoints ---------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "family_class": f"{type(self).__module__}.{type(self).__qualname__}",
            "spec": self.spec.to_dict(),
            **self.checkpoint_extras,
        }


class BatchDecode:
    """`list[list[int]] -> list[str]` with a tokenizer's `batch_decode`, special tokens dropped (picklable)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer
        self.detokenize = splits_punctuation(tokenizer)  # words and punctuation were split apart

    def __call__(self, ids: list[list[int]]) -> list[str]:
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [detokenize(text) for text in texts] if self.detokenize else texts


def batch_size_of(batch: Batch) -> int:
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return value.shape[0]
    return 1


__all__ = ["CHECKPOINT_KEY", "BatchDecode", "ZooModule", "batch_size_of", "plain"]
