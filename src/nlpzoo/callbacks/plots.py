"""`PlotWriter`: the run's figures as PNG in the run directory, and as images in TensorBoard and W&B."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure

from nlpzoo import plots
from nlpzoo.tasks import IGNORE_INDEX, Batch, TaskSpec

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SPLIT_NAMES = {"val": "validation", "test": "test"}


class PlotWriter(L.Callback):
    """Draws what a run has to show, when it has it.

    - learning curves (train loss every logging step, validation metrics every epoch);
    - the confusion matrix, when the objective keeps one in `module.metric_tables`;
    - an attention heatmap of the first validation example, when the family's outputs carry
      `attentions` (B, heads, T_target, T_source) (see the contract in `nlpzoo.tasks.objective`);
    - a PCA projection of the most frequent words, when `module.word_vectors()` gives vectors.

    Files go to `dirpath` (overwritten as training goes on, so they show the latest epoch); every
    figure is also logged as an image to the TensorBoard and W&B loggers of the trainer.
    `curves_during_fit=False` draws the learning curves once, when training ends: drawing them takes
    seconds, more than a whole epoch of the word-vector recipes.
    """

    def __init__(
        self,
        dirpath: str,
        embedding_words: int = 150,
        attention_tokens: int = 48,
        curves_during_fit: bool = True,
    ) -> None:
        self.dirpath = Path(dirpath)
        self.curves_during_fit = curves_during_fit
        self.embedding_words = embedding_words
        self.attention_tokens = attention_tokens
        self.history: list[dict[str, float]] = []  # rows {"step": ..., "train/loss": ...}
        self.example: Batch | None = None  # the first validation example, for the attention heatmap
        self.written: dict[str, Path] = {}  # figure name -> its PNG

    # --- collecting ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The curves so far travel in checkpoints, so a resumed run draws them whole."""
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if (
            trainer.global_step % max(trainer.log_every_n_steps, 1) == 0  # type: ignore[attr-defined]  # Lightning's connectors set it at run time
            and "train/loss" in trainer.callback_metrics
        ):
            self.history.append(
                {"step": trainer.global_step, "train/loss": float(trainer.callback_metrics["train/loss"])}
            )

    def on_validation_batch_start(
        self,
        trainer: L.Trainer,
        module: L.LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx == 0 and dataloader_idx == 0 and isinstance(batch, dict) and "input_ids" in batch:
            self.example = first_example(batch)

    # --- drawing -------------------------------------------------------------------------------
    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        fitting = trainer.state.fn == TrainerFn.FITTING  # not the re-validation of the best checkpoint
        if fitting:
            scalars = {
                k: float(v)
                for k, v in trainer.callback_metrics.items()
                if k.startswith("val/") and v.numel() == 1
            }
            self.history.append({"step": trainer.global_step, **scalars})
        attention = self._attention_figure(trainer, module)  # every rank runs the forward (sharded models)
        if trainer.is_global_zero:
            self._write_confusion_matrix(trainer, module, "val")
            if attention is not None:
                self.write(trainer, "attention", attention)
            if fitting and self.curves_during_fit:  # the file follows training; loggers get them at the end
                self.write(trainer, "learning_curves", plots.learning_curves(self.history), log=False)

    def on_test_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self._write_confusion_matrix(trainer, module, "test")

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self.write(trainer, "learning_curves", plots.learning_curves(self.history))
        with torch.no_grad():
            vectors = getattr(module, "word_vectors", lambda: None)()
        if vectors is not None:
            self.write(trainer, "embeddings_pca", self._embedding_figure(trainer, module, vectors))

    def _write_confusion_matrix(self, trainer: L.Trainer, module: L.LightningModule, split: str) -> None:
        matrix = getattr(module, "metric_tables", {}).get(f"{split}/confusion_matrix")
        if matrix is None:
            return
        names = cast(TaskSpec, module.spec).label_names  # a ZooModule's
        figure = plots.confusion_matrix(matrix.numpy(), names, title=f"{SPLIT_NAMES[split]} confusion matrix")
        self.write(trainer, f"confusion_matrix_{split}", figure)

    def _attention_figure(self, trainer: L.Trainer, module: L.LightningModule) -> Figure | None:
        if self.example is None:
            return None
        was_training = module.training
        module.eval()
        with torch.no_grad():
            outputs = module(self.example)
        module.train(was_training)
        weights = outputs.get("attentions") if isinstance(outputs, dict) else None
        if weights is None:
            return None
        if weights.dim() == 3:  # one head: (B, T_target, T_source)
            weights = weights.unsqueeze(1)
        source_ids = self.example["input_ids"][0]
        source_length = (
            int(self.example["attention_mask"][0].sum())
            if "attention_mask" in self.example
            else len(source_ids)
        )
        target_key = "decoder_input_ids" if "decoder_input_ids" in self.example else "input_ids"
        target_ids = self.example[target_key][0]
        target_length = len(target_ids)
        if "decoder_input_ids" in self.example and "labels" in self.example:
            target_length = int(
                (self.example["labels"][0] != IGNORE_INDEX).sum()
            )  # the decoder's real tokens
        elif "decoder_input_ids" not in self.example:
            target_length = source_length
        source_length = min(source_length, weights.shape[-1], self.attention_tokens)
        target_length = min(target_length, weights.shape[-2], self.attention_tokens)
        source_tokenizer, target_tokenizer = tokenizers_of(trainer, module)
        return plots.attention_heatmap(
            weights[0, :, :target_length, :source_length]
            .float()
            .cpu()
            .numpy(),  # (heads, T_target, T_source)
            token_names(target_tokenizer, target_ids[:target_length].tolist()),
            token_names(source_tokenizer, source_ids[:source_length].tolist()),
            title=f"attention, first validation example (step {trainer.global_step})",
        )

    def _embedding_figure(
        self, trainer: L.Trainer, module: L.LightningModule, vectors: torch.Tensor
    ) -> Figure:
        tokenizer, _ = tokenizers_of(trainer, module)
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        # The most frequent words: by the corpus counts when the data gives them, else by id, since
        # trained tokenizer vocabularies are ordered by frequency.
        spec = cast(TaskSpec, module.spec)  # a ZooModule's
        counts = spec.counts
        order = sorted(range(len(counts)), key=lambda i: -counts[i]) if counts else range(vectors.shape[0])
        ids = [i for i in order if i not in special][: self.embedding_words]
        if tokenizer is None and spec.words:  # a corpus vocabulary without a tokenizer
            words = [str(spec.words[i]) for i in ids]
        else:
            words = token_names(tokenizer, ids)
        return plots.embedding_projection(vectors.detach()[ids].float().cpu().numpy(), words)  # (words, dim)

    # --- output --------------------------------------------------------------------------------
    @rank_zero_only
    def write(self, trainer: L.Trainer, name: str, figure: Figure, log: bool = True) -> Path:
        """Save `name`.png and (`log`) log it as an image to the trainer's TensorBoard and W&B loggers
        and as an artifact (the latest version) to its MLflow loggers."""
        path = plots.save_png(figure, self.dirpath / f"{name}.png")
        self.written[name] = path
        for logger in trainer.loggers if log else []:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(
                    f"plots/{name}", plots.figure_pixels(figure), trainer.global_step, dataformats="HWC"
                )
            elif isinstance(logger, WandbLogger):
                logger.log_image(key=f"plots/{name}", images=[str(path)], step=trainer.global_step)
            elif isinstance(logger, MLFlowLogger):
                logger.experiment.log_artifact(logger.run_id, str(path), artifact_path="plots")
        return path


def first_example(batch: Batch) -> Batch:
    """The batch cut to its first example (every tensor and list aligned with `input_ids`), detached."""
    size = len(batch["input_ids"])
    return {
        key: value[:1].detach() if isinstance(value, torch.Tensor) else value[:1]
        for key, value in batch.items()
        if isinstance(value, (torch.Tensor, list)) and len(value) == size
    }


def tokenizers_of(trainer: L.Trainer, module: L.LightningModule) -> tuple[Any, Any]:
    """(source, target) tokenizers: the DataModule's when training, else the one the module decodes with."""
    datamodule = trainer.datamodule  # type: ignore[attr-defined]  # Lightning's connectors set it at run time
    decoding = getattr(getattr(getattr(module, "objective", None), "decode", None), "tokenizer", None)
    source = getattr(datamodule, "tokenizer", None) or decoding
    target = getattr(datamodule, "target_tokenizer", None) or source
    return source, target


def token_names(tokenizer: PreTrainedTokenizerBase | None, ids: list[int]) -> list[str]:
    """Token strings for axis labels (the ids themselves when there is no tokenizer)."""
    if tokenizer is None:
        return [str(i) for i in ids]
    return [str(token) for token in tokenizer.convert_ids_to_tokens(ids)]
