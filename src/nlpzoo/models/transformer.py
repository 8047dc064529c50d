"""The Transformer (Vaswani et al. 2017) from scratch: attention, feed-forward, blocks, stacks.

The families built on it live beside it: `transformer_encoder.py` (encoder-only, BERT-style heads),
`gpt.py` (decoder-only language model) and `transformer_seq2seq.py` (encoder-decoder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from nlpzoo.errors import ConfigError


@dataclass(kw_only=True)
class TransformerHyperparameters:
    """The choices every from-scratch Transformer family takes (`model.dim`, `model.heads`, ...)."""

    dim: int = 128
    heads: int = 4
    mlp_ratio: int = 4
    dropout: float = 0.1
    positions: Literal["sinusoidal", "learned"] = "learned"
    pre_norm: bool = True

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ConfigError(f"model.dim={self.dim} must be divisible by model.heads={self.heads}")
        if self.positions not in ("sinusoidal", "learned"):
            raise ConfigError(f"model.positions='{self.positions}' is not one of sinusoidal, learned")


@dataclass(kw_only=True)
class TransformerConfig(TransformerHyperparameters):
    """Sizes and choices of one Transformer stack; tiny defaults, real sizes come from conf/model/*.yaml."""

    vocab_size: int
    max_length: int = 512
    layers: int = 2
    bias: bool = True  # in every Linear and LayerNorm (nanoGPT: False is a bit better and faster)
    scale_embeddings: bool | None = None  # tokens * sqrt(dim); None: only next to sinusoidal positions


def stack_config(
    hparams: TransformerHyperparameters, vocab_size: int, max_length: int, **choices: Any
) -> TransformerConfig:
    """One stack's config: the fields a family's hyper-parameters share with it, the data's sizes, `choices`."""
    shared = {f.name: getattr(hparams, f.name) for f in fields(TransformerConfig) if hasattr(hparams, f.name)}
    return TransformerConfig(**{**shared, "vocab_size": vocab_size, "max_length": max_length, **choices})


@dataclass
class KeyValueCache:
    """One attention layer's keys and values of the tokens already decoded, (B, nh, S, hs) each.

    Incremental decoding feeds only the new tokens; their keys and values are appended here, so a
    step attends to the whole prefix without recomputing it (O(prefix) work per token, not O(prefix^2)).
    """

    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    def extend(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new tokens' (B, nh, T, hs) keys and values; the whole prefix's come back."""
        if self.keys is not None and self.values is not None:  # set together
            keys, values = torch.cat([self.keys, keys], dim=2), torch.cat([self.values, values], dim=2)
        self.keys, self.values = keys, values
        return keys, values


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over `heads` subspaces, self- or cross- (queries x, keys/values context)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.query = nn.Linear(config.dim, config.dim, bias=config.bias)
        self.key_value = nn.Linear(config.dim, 2 * config.dim, bias=config.bias)
        self.out = nn.Linear(config.dim, config.dim, bias=config.bias)
        self.dropout = config.dropout

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        cache: KeyValueCache | None = None,
    ) -> torch.Tensor:
        """x (B, T, D), context (B, S, D) or None (self-attention), mask (B, 1, 1 or T, S) True = attend.

        With a `cache`, self-attention: x holds the tokens after the cached prefix, whose keys and values
        are appended; cross-attention: the context's keys and values are computed once and reused.
        """
        batch, steps, dim = x.shape
        q = self.query(x).view(batch, steps, self.heads, -1).transpose(1, 2)  # (B, nh, T, hs)
        past = 0
        if context is not None and cache is not None and cache.keys is not None and cache.values is not None:
            k, v = cache.keys, cache.values  # the memory does not change while decoding
        else:
            source = x if context is None else context
            k, v = self.key_value(source).split(dim, dim=-1)
            k = k.view(batch, source.shape[1], self.heads, -1).transpose(1, 2)  # (B, nh, S, hs)
            v = v.view(batch, source.shape[1], self.heads, -1).transpose(1, 2)  # (B, nh, S, hs)
            if cache is not None:
                past = cache.length if context is None else 0
                k, v = cache.extend(k, v)  # self-attention: (B, nh, past + T, hs)
        if causal and (mask is not None or past):
            # Query i sits at position past + i and sees keys 0..past + i (SDPA's is_causal assumes past = 0).
            causal_mask = torch.ones(steps, past + steps, dtype=torch.bool, device=x.device).tril(
                diagonal=past
            )
            mask = causal_mask if mask is None else mask & causal_mask
            causal = False
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )  # (B, nh, T, hs)
        return self.out(y.transpose(1, 2).reshape(batch, steps, dim))


class FeedForward(nn.Module):
    """Position-wise MLP: dim -> mlp_ratio * dim -> dim, GELU."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.dim, config.mlp_ratio * config.dim, bias=config.bias)
        self.down = nn.Linear(config.mlp_ratio * config.dim, config.dim, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    """Self-attention, optional cross-attention, feed-forward; each a residual sublayer, pre- or post-norm."""

    def __init__(self, config: TransformerConfig, cross_attention: bool = False) -> None:
        super().__init__()
        self.pre_norm = config.pre_norm
        self.attention_norm = nn.LayerNorm(config.dim, bias=config.bias)
        self.attention = MultiHeadAttention(config)
        self.cross_norm = nn.LayerNorm(config.dim, bias=config.bias) if cross_attention else None
        self.cross_attention = MultiHeadAttention(config) if cross_attention else None
        self.feed_forward_norm = nn.LayerNorm(config.dim, bias=config.bias)
        self.feed_forward = FeedForward(config)
        self.dropout = nn.Dropout(config.dropout)

    def residual(
        self, x: torch.Tensor, norm: nn.LayerNorm, sublayer: nn.Module, **kwargs: object
    ) -> torch.Tensor:
        if self.pre_norm:  # x + f(LN(x)) (Xiong et al. 2020)
            return x + self.dropout(sublayer(norm(x), **kwargs))
        return norm(x + self.dropout(sublayer(x, **kwargs)))  # LN(x + f(x)), the original

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        cache: KeyValueCache | None = None,
        cross_cache: KeyValueCache | None = None,
    ) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D); memory (B, S, D) for cross-attention; caches for incremental decoding."""
        x = self.residual(x, self.attention_norm, self.attention, mask=mask, causal=causal, cache=cache)
        if self.cross_attention is not None and self.cross_norm is not None:  # built together
            x = self.residual(
                x, self.cross_norm, self.cross_attention, context=memory, mask=memory_mask, cache=cross_cache
            )
        return self.residual(x, self.feed_forward_norm, self.feed_forward)


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    """(length, dim) fixed positions: sin on even, cos on odd channels, geometric wavelengths."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


class Embeddings(nn.Module):
    """Token embeddings scaled by sqrt(dim), plus sinusoidal or learned positions, then dropout."""

    def __init__(self, config: TransformerConfig, padding_idx: int | None = None) -> None:
        super().__init__()
        self.max_length = config.max_length
        scaled = (
            config.positions == "sinusoidal" if config.scale_embeddings is None else config.scale_embeddings
        )
        self.scale = math.sqrt(config.dim) if scaled else 1.0
        self.tokens = nn.Embedding(config.vocab_size, config.dim, padding_idx=padding_idx)
        if config.positions == "learned":
            self.positions = nn.Parameter(torch.zeros(config.max_length, config.dim).normal_(std=0.02))
        else:
            self.register_buffer(
                "positions", sinusoidal_table(config.max_length, config.dim), persistent=False
            )
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, input_ids: torch.Tensor, start: int = 0, position_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, T) ids at positions start .. start + T - 1, or at `position_ids` (B, T) -> (B, T, D)."""
        end = start + input_ids.shape[1]
        if end > self.max_length:
            raise ConfigError(f"sequence of {end} tokens exceeds the model's max_length={self.max_length}")
        positions = self.positions[start:end] if position_ids is None else self.positions[position_ids]
        return self.dropout(self.tokens(input_ids) * self.scale + positions)


class Stack(nn.Module):
    """`layers` blocks and, with pre-norm, the final LayerNorm their residual stream needs."""

    def __init__(self, config: TransformerConfig, cross_attention: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(config, cross_attention) for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(config.dim, bias=config.bias) if config.pre_norm else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        caches: list[KeyValueCache] | None = None,
        cross_caches: list[KeyValueCache] | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D); `caches` (and `cross_caches` over the memory) hold one
        `KeyValueCache` per block for incremental decoding."""
        for index, block in enumerate(self.blocks):
            cache = caches[index] if caches is not None else None
            cross_cache = cross_caches[index] if cross_caches is not None else None
            x = block(x, cache=cache, cross_cache=cross_cache, **kwargs)
        return self.final_norm(x)


def key_padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, S) 1 = real token -> (B, 1, 1, S) boolean mask that SDPA broadcasts over heads and queries."""
    return attention_mask.bool()[:, None, None, :]


def document_mask(document_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) example number of each token of packed blocks -> (B, 1, T, T) True where query and key share
    an example; with the causal mask this is block-diagonal, so no example attends to its neighbours."""
    return (document_ids[:, :, None] == document_ids[:, None, :])[:, None]


def init_weights(module: nn.Module) -> None:
    """GPT-2 initialization: normal(0, 0.02) weights, zero biases; for `module.apply`."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    if isinstance(module, Embeddings) and module.scale != 1.0:
        # Scaled by sqrt(dim) next to unit-size sinusoids, token vectors start at std dim**-0.5 (Vaswani
        # et al.); at 0.02 the positions would drown the tokens. `apply` visits this after its children.
        nn.init.normal_(module.tokens.weight, mean=0.0, std=module.tokens.embedding_dim**-0.5)


def xavier_init(module: nn.Module) -> None:
    """Glorot-uniform on every matrix (embeddings and learned positions too), biases left at PyTorch's
    default, as bentrevett/pytorch-seq2seq's Transformer initializes; for `module.apply`."""
    for parameter in module.parameters(recurse=False):
        if parameter.dim() > 1:
            nn.init.xavier_uniform_(parameter)
