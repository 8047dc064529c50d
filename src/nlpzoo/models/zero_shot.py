"""Zero-shot classification with an NLI-trained cross-encoder (Yin et al. 2019).

Each candidate label becomes a hypothesis ("This example is {label}.") paired with the text; the
entailment logit ranks the labels, so label names are chosen at prediction time, not at training.
Scores match `transformers`' zero-shot-classification pipeline for the same model.
"""

from __future__ import annotations

from typing import Any

import torch

from nlpzoo.errors import ConfigError

DEFAULT_TEMPLATE = "This example is {}."


class ZeroShotClassifier:
    """Wraps an NLI sequence classifier (`transformers` model or an nlpzoo encoder module) and its tokenizer."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        hypothesis_template: str = DEFAULT_TEMPLATE,
        entailment_label: str = "entailment",
        contradiction_label: str = "contradiction",
        batch_size: int = 32,
    ) -> None:
        self.model = getattr(model, "model", model)  # an nlpzoo module holds its transformers model
        self.tokenizer = tokenizer
        if "{}" not in hypothesis_template:
            raise ConfigError(
                f"hypothesis_template {hypothesis_template!r} needs a '{{}}' where the label goes"
            )
        self.template = hypothesis_template
        label2id = {str(k).lower(): int(v) for k, v in self.model.config.label2id.items()}
        if entailment_label.lower() not in label2id:
            raise ConfigError(
                f"the model's labels {sorted(label2id)} have no '{entailment_label}': zero-shot needs an NLI-trained model"
            )
        self.entailment_id = label2id[entailment_label.lower()]
        self.contradiction_id = label2id.get(
            contradiction_label.lower(), 0 if self.entailment_id != 0 else -1
        )
        self.batch_size = batch_size

    @torch.no_grad()
    def entailment_logits(self, texts: list[str], labels: list[str]) -> torch.Tensor:
        """(texts, labels, num_nli_classes) logits of every text paired with every label's hypothesis."""
        hypotheses = [self.template.format(label) for label in labels]
        premises = [text for text in texts for _ in labels]
        pairs = hypotheses * len(texts)
        self.model.eval()
        device = next(self.model.parameters()).device
        chunks = []
        for start in range(0, len(premises), self.batch_size):
            encoded = self.tokenizer(
                premises[start : start + self.batch_size],
                pairs[start : start + self.batch_size],
                padding=True,
                truncation="only_first",
                return_tensors="pt",
            ).to(device)
            chunks.append(self.model(**encoded).logits.float())
        return torch.cat(chunks).reshape(len(texts), len(labels), -1)

    def __call__(
        self, texts: str | list[str], labels: list[str], multi_label: bool = False
    ) -> list[dict[str, Any]]:
        """Per text: labels sorted by score. Single-label: softmax of entailment across labels;
        multi-label: each label's entailment-vs-contradiction probability on its own."""
        if not labels:
            raise ConfigError("zero-shot classification needs at least one candidate label")
        texts = [texts] if isinstance(texts, str) else list(texts)
        logits = self.entailment_logits(texts, list(labels))  # (N, L, K)
        if multi_label or len(labels) == 1:
            pair = logits[..., [self.contradiction_id, self.entailment_id]]
            scores = pair.softmax(-1)[..., 1]  # (N, L)
        else:
            scores = logits[..., self.entailment_id].softmax(-1)  # (N, L)
        results = []
        for text, row in zip(texts, scores.tolist(), strict=True):
            order = sorted(range(len(labels)), key=lambda i: -row[i])
            results.append(
                {"sequence": text, "labels": [labels[i] for i in order], "scores": [row[i] for i in order]}
            )
        return results
