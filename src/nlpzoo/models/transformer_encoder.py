"""An encoder-only Transformer (BERT-style, trained from scratch) with the head the task kind needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from omegaconf import DictConfig
from torch import nn

from nlpzoo.errors import ConfigError
from nlpzoo.models.base import ZooModule, configured_task
from nlpzoo.models.heads import EncoderWithHead, masked_mean, task_head
from nlpzoo.models.transformer import (
    Embeddings,
    Stack,
    TransformerConfig,
    TransformerHyperparameters,
    init_weights,
    key_padding_mask,
    stack_config,
)
from nlpzoo.tasks import Batch, TaskKind, TaskSpec


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


@dataclass(kw_only=True)
class TransformerEncoderConfig(TransformerHyperparameters):
    """The encoder's hyper-parameters (conf/model/transformer_encoder.yaml); the data gives the vocabulary."""

    layers: int = 2
    pooling: Literal["mean", "first"] = "mean"
    crf: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pooling not in ("mean", "first"):
            raise ConfigError(f"model.pooling='{self.pooling}' is not one of mean, first")


class TransformerEncoderModel(EncoderWithHead, ZooModule):
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
    config_class = TransformerEncoderConfig
    config: TransformerEncoderConfig

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Before data is read: a CRF decodes tag sequences, so it serves token classification only."""
        kind = configured_task(cfg)
        if cfg.model.get("crf") and kind is not TaskKind.TOKEN_CLASSIFICATION:
            raise ConfigError(f"model.crf serves token_classification, not {kind.value}: add model.crf=false")

    def __init__(self, spec: TaskSpec | dict[str, Any], **options: Any) -> None:
        super().__init__(spec, **options)
        kind, config = self.spec.kind, self.config
        if config.crf and kind is not TaskKind.TOKEN_CLASSIFICATION:
            raise ConfigError(f"model.crf applies to token_classification, not {kind.value}")
        stack = stack_config(config, self.spec.vocab_size, self.spec.max_length)
        self.encoder = TransformerEncoder(stack, self.spec.pad_token_id)
        dim = config.dim
        if kind is TaskKind.MASKED_LANGUAGE_MODELING:
            self.head: nn.Module = nn.Sequential(
                nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim), nn.Linear(dim, stack.vocab_size)
            )
            self.head[-1].weight = self.encoder.embeddings.tokens.weight
        else:
            self.head = task_head(self.spec, dim, crf=config.crf)

    def token_states(self, batch: Batch) -> torch.Tensor:
        return self.encoder(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

    def sentence_vector(self, batch: Batch, suffix: str = "") -> torch.Tensor:
        """(B, T) -> (B, D): the first token's state, or the mean of the real tokens' states."""
        attention_mask = batch[f"attention_mask{suffix}"]
        states = self.encoder(
            batch[f"input_ids{suffix}"], attention_mask, batch.get(f"token_type_ids{suffix}")
        )
        if self.config.pooling == "first":
            return states[:, 0]
        return masked_mean(states, attention_mask)
