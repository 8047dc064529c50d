"""An encoder-only Transformer (BERT-style, trained from scratch) with the head the task kind needs."""

from __future__ import annotations

from typing import Any, Literal

import torch
from omegaconf import DictConfig
from torch import nn

from nlpzoo.errors import ConfigError
from nlpzoo.models.base import ZooModule, configured_task
from nlpzoo.models.heads import SentenceHead, SiamesePairHead, SpanHead, TokenTaggingHead, masked_mean
from nlpzoo.models.transformer import Embeddings, Stack, TransformerConfig, init_weights, key_padding_mask
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec


class TransformerEncoder(nn.Module):
    """Embeddings (plus segment embeddings for joint pairs) and bidirectional blocks over real tokens."""

    def __init__(self, config: TransformerConfig, padding_idx: int) -> None:
        super().__init__()
        self.embeddings = Embeddings(config, padding_idx)
        self.segments = nn.Embedding(2, config.dim)
        self.stack = Stack(config)
        self.apply(init_weights)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, T) ids -> (B, T, D) token states."""
        x = self.embeddings(input_ids)
        if token_type_ids is not None:
            x = x + self.segments(token_type_ids.clamp(max=1))
        return self.stack(x, mask=key_padding_mask(attention_mask))


class TransformerEncoderModel(ZooModule):
    """Transformer encoder: classification and pairs pool the states, tagging and QA read every token,
    masked language modeling predicts through the tied embeddings."""

    family = "transformer_encoder"
    supported_tasks = (
        TaskKind.TEXT_CLASSIFICATION,
        TaskKind.TOKEN_CLASSIFICATION,
        TaskKind.EXTRACTIVE_QA,
        TaskKind.SENTENCE_SIMILARITY,
        TaskKind.NLI,
        TaskKind.MASKED_LANGUAGE_MODELING,
    )

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Before data is read: a CRF decodes tag sequences, so it serves token classification only."""
        kind = configured_task(cfg)
        if cfg.model.get("crf") and kind is not TaskKind.TOKEN_CLASSIFICATION:
            raise ConfigError(f"model.crf serves token_classification, not {kind.value}: add model.crf=false")

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        dim: int = 128,
        heads: int = 4,
        layers: int = 2,
        mlp_ratio: int = 4,
        dropout: float = 0.1,
        positions: Literal["sinusoidal", "learned"] = "learned",
        pre_norm: bool = True,
        pooling: Literal["mean", "first"] = "mean",
        crf: bool = False,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        objective: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, optimizer, scheduler, objective)
        if pooling not in ("mean", "first"):
            raise ConfigError(f"model.pooling='{pooling}' is not one of mean, first")
        kind = self.spec.kind
        if crf and kind is not TaskKind.TOKEN_CLASSIFICATION:
            raise ConfigError(f"model.crf applies to token_classification, not {kind.value}")
        self.save_family_hyperparameters(
            dim=dim,
            heads=heads,
            layers=layers,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            positions=positions,
            pre_norm=pre_norm,
            pooling=pooling,
            crf=crf,
        )
        config = TransformerConfig(
            vocab_size=self.spec.vocab_size,
            max_length=self.spec.max_length,
            dim=dim,
            heads=heads,
            layers=layers,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            positions=positions,
            pre_norm=pre_norm,
        )
        self.pooling = pooling
        self.encoder = TransformerEncoder(config, self.spec.pad_token_id)
        self.siamese = self.spec.pair_encoding == "bi"
        similarity = kind is TaskKind.SENTENCE_SIMILARITY
        if kind is TaskKind.TOKEN_CLASSIFICATION:
            self.head: nn.Module = TokenTaggingHead(dim, self.spec.num_labels, crf=crf)
        elif kind is TaskKind.EXTRACTIVE_QA:
            self.head = SpanHead(dim)
        elif kind is TaskKind.MASKED_LANGUAGE_MODELING:
            self.head = nn.Sequential(
                nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim), nn.Linear(dim, config.vocab_size)
            )
            self.head[-1].weight = self.encoder.embeddings.tokens.weight
        elif self.siamese:
            self.head = SiamesePairHead(dim, self.spec.num_labels, similarity=similarity)
        else:
            self.head = SentenceHead(dim, self.spec.num_labels, regression=similarity)

    def encode_sentence(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, T) -> (B, D): the first token's state, or the mean of the real tokens' states."""
        states = self.encoder(input_ids, attention_mask, token_type_ids)
        if self.pooling == "first":
            return states[:, 0]
        return masked_mean(states, attention_mask)

    def forward(self, batch: Batch) -> Outputs:
        kind = self.spec.kind
        mask = batch["attention_mask"]
        if kind in (TaskKind.TOKEN_CLASSIFICATION, TaskKind.EXTRACTIVE_QA, TaskKind.MASKED_LANGUAGE_MODELING):
            states = self.encoder(batch["input_ids"], mask, batch.get("token_type_ids"))  # (B, T, D)
            if kind is TaskKind.TOKEN_CLASSIFICATION:
                return self.head(states, batch, decode=not self.training)
            if kind is TaskKind.EXTRACTIVE_QA:
                return self.head(states, mask)
            return {"logits": self.head(states)}  # (B, T, V)
        sentence = self.encode_sentence(batch["input_ids"], mask, batch.get("token_type_ids"))
        if self.siamese:
            return self.head(sentence, self.encode_sentence(batch["input_ids_b"], batch["attention_mask_b"]))
        return self.head(sentence)
