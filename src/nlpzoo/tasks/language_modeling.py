"""Causal and masked language modeling: token cross-entropy; perplexity, token accuracy, bits per character."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection

from nlpzoo.errors import ConfigError
from nlpzoo.metrics.language_modeling import LanguageModelScore, token_statistics
from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective
from nlpzoo.tasks.spec import IGNORE_INDEX, TaskKind, TaskSpec


class CausalLMObjective(TaskObjective):
    """Next-token prediction: logits at position t are scored against labels at t + 1.

    Perplexity is exp of the mean NLL over every scored token of the split; bits per character
    (`bpc`) is reported when the spec says tokens are characters (`spec.char_level`).
    """

    kind = TaskKind.LANGUAGE_MODELING
    monitor = "ppl"
    mode = "min"

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.char_level = spec.char_level

    def aligned(self, outputs: Outputs, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, L-1, V) and the labels they predict (B, L-1), for labels of L tokens: the input
        itself (L = T, the last logit predicts nothing) or the input and the token after it (L = T + 1)."""
        labels = batch["labels"]  # (B, L)
        return outputs["logits"][:, : labels.shape[1] - 1], labels[:, 1:]

    def task_loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        logits, labels = self.aligned(outputs, batch)
        return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX)

    def metrics(self) -> MetricCollection:
        return MetricCollection({"lm": LanguageModelScore(char_level=self.char_level)}, compute_groups=False)

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        metrics.update(*token_statistics(*self.aligned(outputs, batch)))

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        """Per text: mean NLL of its scored tokens, their count and perplexity."""
        logits, labels = self.aligned(outputs, batch)
        nll = F.cross_entropy(
            logits.float().transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none"
        )  # (B, T-1)
        counts = (labels != IGNORE_INDEX).sum(-1)
        means = nll.sum(-1) / counts.clamp(min=1)
        return [
            {"nll": float(m), "tokens": int(c), "ppl": float(m.exp())}
            for m, c in zip(means, counts, strict=True)
        ]


class MaskedLMObjective(CausalLMObjective):
    """Masked-token prediction: labels are already aligned (-100 except at masked positions)."""

    kind = TaskKind.MASKED_LANGUAGE_MODELING

    def aligned(self, outputs: Outputs, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return outputs["logits"], batch["labels"]

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        """Per text: the predicted token at each masked position ([MASK] ids in the input)."""
        if self.spec.mask_token_id is None:
            raise ConfigError("masked-LM prediction needs the tokenizer's mask token id in the TaskSpec")
        masked = batch["input_ids"] == self.spec.mask_token_id  # (B, T)
        best = outputs["logits"].argmax(-1)  # (B, T)
        predictions = []
        for row in range(best.shape[0]):
            positions = masked[row].nonzero().flatten().tolist()
            ids = best[row, positions].tolist()
            prediction: dict[str, Any] = {"positions": positions, "token_ids": ids}
            if self.decode is not None:
                prediction["tokens"] = self.decode([[i] for i in ids])
            predictions.append(prediction)
        return predictions
