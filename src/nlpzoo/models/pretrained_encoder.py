"""BERT-style pretrained encoders (BERT, MiniLM, DistilBERT, RoBERTa, ...) with a head per task.

Heads are the `transformers` task classes wherever one exists, so a fine-tuned model exports
with `save_pretrained` and reloads with `AutoModelFor...`: sequence classification ([CLS]
pooler), token classification, extractive QA, masked LM, cross-encoder pairs (NLI logits, STS
regression). Mean pooling and bi-encoders (Sentence-BERT: similarity and NLI) are `AutoModel`
plus nlpzoo's pooling and heads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedTokenizerBase,
)

from nlpzoo.errors import ConfigError
from nlpzoo.models.heads import SiamesePairHead, masked_mean
from nlpzoo.models.hf_backbone import load_model
from nlpzoo.models.pretrained import PretrainedFamily
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec

ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
HEAD_CLASSES = {
    TaskKind.TEXT_CLASSIFICATION: AutoModelForSequenceClassification,
    TaskKind.NLI: AutoModelForSequenceClassification,
    TaskKind.SENTENCE_SIMILARITY: AutoModelForSequenceClassification,  # cross-encoder, 1 output
    TaskKind.TOKEN_CLASSIFICATION: AutoModelForTokenClassification,
    TaskKind.EXTRACTIVE_QA: AutoModelForQuestionAnswering,
    TaskKind.MASKED_LANGUAGE_MODELING: AutoModelForMaskedLM,
}


class PretrainedEncoder(PretrainedFamily):
    """Any `AutoModel` encoder by hub name or path (or from a config alone) with the task's head.

    `pooling`: `cls` (the model's own [CLS] pooler head) or `mean` (average of token states) for
    classification; bi-encoders always mean-pool. `similarity_loss` for bi-encoders: `objective`
    (the task objective's, e.g. `model.objective.loss=cosine`) or `contrastive` (in-batch negatives).
    """

    family = "encoder"
    encodes_pairs_apart = True
    supported_tasks = tuple(HEAD_CLASSES)

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        pooling: Literal["cls", "mean"] = "cls",
        similarity_loss: Literal["objective", "contrastive"] = "objective",
        contrastive_scale: float = 20.0,
        classifier_dropout: float = 0.1,
        **common: Any,
    ) -> None:
        super().__init__(spec, **common)
        if pooling not in ("cls", "mean"):
            raise ConfigError(f"model.pooling='{pooling}' is not one of: cls, mean")
        if similarity_loss not in ("objective", "contrastive"):
            raise ConfigError(
                f"model.similarity_loss='{similarity_loss}' is not one of: objective, contrastive"
            )
        kind = self.spec.kind
        # Bi-encoders (Sentence-BERT): each text pooled alone; similarity is their cosine, NLI a
        # classifier over [u, v, |u-v|, u*v].
        self.bi_encoder = (
            kind in (TaskKind.SENTENCE_SIMILARITY, TaskKind.NLI) and self.spec.pair_encoding == "bi"
        )
        self.mean_pooled = self.bi_encoder or (
            pooling == "mean" and HEAD_CLASSES[kind] is AutoModelForSequenceClassification
        )
        self.pooling = pooling
        self.similarity_loss = similarity_loss
        self.contrastive_scale = contrastive_scale
        config = self.hf_config
        if kind in (TaskKind.TEXT_CLASSIFICATION, TaskKind.NLI, TaskKind.TOKEN_CLASSIFICATION):
            config.update(self.label_config())
        elif kind == TaskKind.SENTENCE_SIMILARITY:
            config.update({"num_labels": 1, "problem_type": "regression"})
        options = self.options
        if self.mean_pooled:
            self.model = load_model(
                AutoModel, config, options["pretrained"], self.from_weights, options["trust_remote_code"]
            )
            self.dropout = nn.Dropout(classifier_dropout)
            self.head: nn.Module | None = nn.Linear(config.hidden_size, self.spec.num_labels)
            if self.bi_encoder:
                nli = kind == TaskKind.NLI
                self.head = (
                    SiamesePairHead(config.hidden_size, self.spec.num_labels, similarity=False)
                    if nli
                    else None
                )
            backbone_prefix = None
        else:
            self.head = None
            self.model = load_model(
                HEAD_CLASSES[kind],
                config,
                options["pretrained"],
                self.from_weights,
                options["trust_remote_code"],
            )
            backbone_prefix = self.model.base_model_prefix
        self.finish_setup(
            backbone_prefix,
            pooling=pooling,
            similarity_loss=similarity_loss,
            contrastive_scale=contrastive_scale,
            classifier_dropout=classifier_dropout,
        )

    def save_pretrained(
        self, folder: str | Path, tokenizer: PreTrainedTokenizerBase | None = None, merge: bool = True
    ) -> Path:
        """Bi-encoders export their encoder (`AutoModel` loads it: the sentence embedder is what NLI
        training of a bi-encoder is for); a mean-pooled classifier has no transformers class, so it
        refuses rather than silently dropping its head."""
        if self.head is not None and not self.bi_encoder:
            raise ConfigError(
                "pooling=mean classifiers have no transformers class to export to; train with pooling=cls"
            )
        return super().save_pretrained(folder, tokenizer, merge)

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: torch.Tensor
    ) -> torch.Tensor:
        """Sentence embeddings (batch, hidden): mean of the backbone's token states."""
        states = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        return masked_mean(states, attention_mask)  # (B, H): Sentence-BERT's mean pooling

    def forward(self, batch: Batch) -> Outputs:
        inputs = self.model_inputs(batch, ENCODER_INPUTS)
        if self.bi_encoder:
            return self._bi_encoder_forward(batch, inputs)
        if self.mean_pooled:
            head = cast(nn.Module, self.head)  # mean-pooled classifiers have one
            return {"logits": head(self.dropout(self.encode(**inputs)))}  # (B, C)
        outputs = self.model(**inputs)
        kind = self.spec.kind
        if kind == TaskKind.EXTRACTIVE_QA:
            return {"start_logits": outputs.start_logits, "end_logits": outputs.end_logits}  # (B, T) each
        if kind == TaskKind.SENTENCE_SIMILARITY:
            return {"scores": outputs.logits.squeeze(-1)}  # (B,)
        return {"logits": outputs.logits}  # (B, C), (B, T, C) or (B, T, V)

    def _bi_encoder_forward(self, batch: Batch, inputs: dict[str, torch.Tensor]) -> Outputs:
        first = self.encode(**inputs)  # (B, H)
        second = self.encode(batch["input_ids_b"], batch["attention_mask_b"])  # (B, H)
        if self.head is not None:
            return self.head(self.dropout(first), self.dropout(second))  # NLI logits (B, C)
        first, second = F.normalize(first, dim=-1), F.normalize(second, dim=-1)
        outputs: Outputs = {"scores": (first * second).sum(-1)}  # cosine similarity (B,)
        if self.similarity_loss == "contrastive" and "labels" in batch:
            outputs["loss"] = in_batch_contrastive_loss(
                first, second, batch["labels"], self.contrastive_scale
            )
        return outputs


def in_batch_contrastive_loss(
    first: torch.Tensor, second: torch.Tensor, labels: torch.Tensor, scale: float
) -> torch.Tensor:
    """Multiple-negatives ranking loss (Henderson et al. 2017): each pair's second text against every
    other one in the batch, over the pairs scored at or above the batch's median similarity label."""
    similarities = scale * first @ second.T  # (B, B) scaled cosine similarities
    targets = torch.arange(first.shape[0], device=first.device)
    positive = labels.float() >= labels.float().median()
    return F.cross_entropy(similarities[positive], targets[positive])
