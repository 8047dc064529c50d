"""Sequence-to-sequence (translation, summarization): token cross-entropy; BLEU, chrF and ROUGE of generated text."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import Metric, MetricCollection

from nlpzoo.errors import ConfigError
from nlpzoo.metrics.bleu import SacreBleuScore, TokenizedBleuScore
from nlpzoo.metrics.rouge import RougeScore
from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective
from nlpzoo.tasks.spec import IGNORE_INDEX, TaskKind, TaskSpec

GENERATION_METRICS = ("bleu", "chrf", "rouge", "bleu_tokenized")


class Seq2SeqObjective(TaskObjective):
    """Teacher-forced cross-entropy (optionally label-smoothed) for training; in evaluation the
    family's own decoding (`outputs["generated_ids"]`) is decoded to text and scored against the
    references as written (`batch["target_text"]`, else the decoded labels).

    `metrics` defaults to BLEU and chrF, plus ROUGE when `spec.seq2seq_task` is
    "summarization" (the data config's `task`); BLEU is always computed, since it is the default
    checkpoint monitor.
    Label smoothing applies when the family leaves the loss to the objective (no `loss` output).
    `test_beam_size`: the test split is also decoded with that many beams and scored as
    `bleu_beam{K}` beside the family's own decoding (greedy in the Multi30k recipes).
    """

    kind = TaskKind.SEQ2SEQ
    monitor = "bleu"
    mode = "max"

    def __init__(
        self,
        spec: TaskSpec,
        label_smoothing: float = 0.0,
        metrics: list[str] | None = None,
        test_beam_size: int | None = None,
    ) -> None:
        super().__init__(spec)
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"objective.label_smoothing must be in [0, 1), got {label_smoothing}")
        if test_beam_size is not None and test_beam_size < 1:
            raise ConfigError(f"objective.test_beam_size must be at least 1 (or null), got {test_beam_size}")
        self.test_beam_size = test_beam_size
        self.label_smoothing = label_smoothing
        if metrics is None:
            metrics = ["bleu", "chrf"] + (["rouge"] if spec.seq2seq_task == "summarization" else [])
        unknown = sorted(set(metrics) - set(GENERATION_METRICS))
        if unknown:
            raise ConfigError(f"objective.metrics: unknown {unknown}; valid: {list(GENERATION_METRICS)}")
        self.metric_names = ["bleu", *(name for name in metrics if name != "bleu")]

    def task_loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        logits = outputs["logits"].float()  # (B, S, V)
        return F.cross_entropy(
            logits.flatten(0, 1),
            batch["labels"].flatten(),
            ignore_index=IGNORE_INDEX,
            label_smoothing=self.label_smoothing,
        )

    def metrics(self) -> MetricCollection:
        builders: dict[str, Metric | MetricCollection] = {}
        for name in self.metric_names:
            if name == "bleu_tokenized":  # lowercased word tokens, as torchtext-era references score
                builders[name] = TokenizedBleuScore()
                continue
            builders[name] = RougeScore() if name == "rouge" else SacreBleuScore(name)  # type: ignore[arg-type]
        return MetricCollection(builders, compute_groups=False)

    def beam_metric(self) -> str | None:
        return f"bleu_beam{self.test_beam_size}" if self.test_beam_size else None

    def test_metrics(self) -> MetricCollection:
        collection = self.metrics()
        name = self.beam_metric()
        if name:
            collection.add_metrics({name: SacreBleuScore("bleu")})
        return collection

    def generated_text(self, outputs: Outputs, key: str = "generated_ids") -> list[str]:
        """Decoded generations, each cut at its first end-of-sequence token after the start token."""
        if key not in outputs:
            raise ConfigError(
                f"seq2seq evaluation needs outputs['{key}'] (batch, length): the family must "
                "decode (greedy or beam search) in its forward when not training"
            )
        sequences = outputs[key].tolist()
        eos = self.spec.eos_token_id
        if eos is not None:
            sequences = [seq[: seq.index(eos, 1)] if eos in seq[1:] else seq for seq in sequences]
        return self.require_decode()(sequences)

    def references(self, batch: Batch) -> list[str]:
        if "target_text" in batch:
            return list(batch["target_text"])
        pad = self.spec.pad_token_id
        return self.require_decode()(
            [[pad if t == IGNORE_INDEX else t for t in row] for row in batch["labels"].tolist()]
        )

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        generated, references = self.generated_text(outputs), self.references(batch)
        beam = self.beam_metric()
        for name, metric in metrics.items(keep_base=True, copy_state=False):
            if name == beam:
                metric.update(self.generated_text(outputs, "beam_generated_ids"), references)
            else:
                metric.update(generated, references)

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        return [{"generated": text} for text in self.generated_text(outputs)]
