"""What the word-embedding families share: evaluation on benchmark batches, nearest neighbours of
probe words, and export to the word2vec format at the end of training."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

import torch
from omegaconf import DictConfig

from nlpzoo.errors import ConfigError
from nlpzoo.export.word2vec_format import save_word2vec_format
from nlpzoo.models.base import ZooModule, fit_to_task
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec
from nlpzoo.tasks.word_embedding import WordEmbeddingObjective, nearest_neighbours

log = logging.getLogger(__name__)

ExportFormat = Literal["text", "binary"]


@dataclass
class WordVectorConfig:
    """What every word-vector family takes besides its own hyper-parameters."""

    probe_words: list[str] | None = None  # words whose nearest neighbours are logged at each validation
    export_format: ExportFormat | None = "binary"  # the vectors file written at the end of training

    def __post_init__(self) -> None:
        self.probe_words = list(self.probe_words or [])
        if self.export_format not in (None, "text", "binary"):
            raise ConfigError(f"model.export_format='{self.export_format}' is not one of: text, binary, null")


class WordVectorModule(ZooModule):
    """Base of skip-gram, CBOW, fastText and GloVe: `training_loss(batch)` and `word_vectors()` (V, D)."""

    supported_tasks = (TaskKind.WORD_EMBEDDING,)
    batch_format: ClassVar[str] = "windows"  # what the corpus must serve (data.batch_format)
    config: WordVectorConfig

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Before the corpus is read: it must serve the batches this family trains on, and nothing clips
        its updates (word2vec steps by hand, GloVe's gradients are sparse)."""
        if cfg.data.get("batch_format") != cls.batch_format:
            fit_to_task(
                cfg.data,
                "batch_format",
                cls.batch_format,
                f"model family '{cls.family}' trains on these batches",
            )
        if cfg.trainer.get("gradient_clip_val"):
            why = (
                f"model family '{cls.family}' updates its vectors by hand or sparsely, which is never clipped"
            )
            fit_to_task(cfg.trainer, "gradient_clip_val", None, why)

    def __init__(self, spec: TaskSpec | dict[str, Any], **options: Any) -> None:
        super().__init__(spec, **options)
        served = self.spec.batch_format
        if served != self.batch_format:
            raise ConfigError(
                f"model family '{self.family}' trains on '{self.batch_format}' batches but the corpus serves "
                f"'{served}': set data.batch_format={self.batch_format}"
            )
        self.words: list[str] = list(self.spec.words)
        self._eval_vectors: torch.Tensor | None = None

    def training_loss(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def word_vectors(self) -> torch.Tensor:
        """(V, D) the vectors of the vocabulary, in id order."""
        raise NotImplementedError

    def forward(self, batch: Batch) -> Outputs:
        if "pair_ids" in batch or "analogy_ids" in batch:
            return {"word_vectors": self.evaluation_vectors()}
        return {"loss": self.training_loss(batch)}

    def evaluation_vectors(self) -> torch.Tensor:
        """`word_vectors()` computed once per evaluation loop (fastText's n-gram sums are not free)
        and shared by its benchmark batches; training leaves the cache empty."""
        if self.training or self._eval_vectors is None:
            with torch.no_grad():
                vectors = self.word_vectors().detach()
            if self.training:
                return vectors
            self._eval_vectors = vectors
        return self._eval_vectors

    def on_validation_epoch_start(self) -> None:
        self._eval_vectors = None

    def on_test_epoch_start(self) -> None:
        self._eval_vectors = None

    def on_predict_epoch_start(self) -> None:
        self._eval_vectors = None

    def _eval_step(self, batch: Batch, split: str) -> None:
        # Benchmarks have no loss: each batch updates (and logs) only the metric of its benchmark.
        with torch.no_grad():
            outputs = self(batch)
        metrics = self.val_metrics if split == "val" else self.test_metrics
        self.objective.update_metrics(metrics, outputs, batch)
        for name in cast(WordEmbeddingObjective, self.objective).metric_names(batch):
            self.log(f"{split}/{name}", metrics[name], prog_bar=True, batch_size=1)

    def on_validation_epoch_end(self) -> None:
        ids = {word: i for i, word in enumerate(self.words)}
        vectors = self.evaluation_vectors()
        for word in self.config.probe_words or ():
            if word in ids:
                neighbours = nearest_neighbours(vectors, ids[word], k=8)
                log.info(
                    "nearest to %s: %s", word, ", ".join(f"{self.words[i]} {s:.2f}" for i, s in neighbours)
                )
        self._eval_vectors = None  # training resumes: the next evaluation sees new weights

    def export(self, path: str | Path, binary: bool = True) -> Path:
        """The vocabulary's vectors in the word2vec format gensim's KeyedVectors loads."""
        with torch.no_grad():
            return save_word2vec_format(path, self.words, self.word_vectors(), binary=binary)

    def on_fit_end(self) -> None:
        export_format = self.config.export_format
        if export_format and self.trainer.is_global_zero:
            suffix = "bin" if export_format == "binary" else "txt"
            path = self.export(
                Path(self.trainer.default_root_dir) / f"word_vectors.{suffix}", export_format == "binary"
            )
            log.info("word vectors written to %s", path)
