"""GPT (Radford et al. 2018): a decoder-only Transformer language model, nanoGPT-style, with sampling."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from nlpzoo.models.base import ZooModule
from nlpzoo.models.decoding import LanguageModelSampling, State, StepFunction
from nlpzoo.models.transformer import (
    Embeddings,
    KeyValueCache,
    Stack,
    TransformerConfig,
    TransformerHyperparameters,
    document_mask,
    init_weights,
    stack_config,
)
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec


class GPT(nn.Module):
    """Token + position embeddings, causal blocks, a final norm and a head tied to the embeddings."""

    def __init__(self, config: TransformerConfig, tie_embeddings: bool = True) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.stack = Stack(config)
        self.lm_head = nn.Linear(config.dim, config.vocab_size, bias=False)
        self.apply(init_weights)
        if tie_embeddings:
            self.lm_head.weight = self.embeddings.tokens.weight
        for name, parameter in self.named_parameters():
            if name.endswith(("out.weight", "down.weight")):  # scaled residual projections (GPT-2)
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.layers))

    def forward(
        self,
        input_ids: torch.Tensor,
        caches: list[KeyValueCache] | None = None,
        document_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, T) ids -> (B, T, V) next-token logits; position t sees tokens 0..t only.

        With `caches` (one per block), input_ids are the tokens after the cached prefix. Packed blocks
        give `document_ids` and `position_ids` (B, T): position t then sees only its own example's tokens.
        """
        start = caches[0].length if caches else 0
        mask = document_mask(document_ids) if document_ids is not None else None  # (B, 1, T, T)
        x = self.embeddings(input_ids, start, position_ids)  # (B, T, D)
        return self.lm_head(self.stack(x, caches=caches, causal=True, mask=mask))

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Decoding step for `nlpzoo.models.decoding`: the last `max_length` tokens -> next logits (B, V).

        Recomputes the whole window each step; `cached_step` gives the same logits incrementally.
        """
        return self(tokens[:, -self.config.max_length :])[:, -1], state

    def cached_step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """`step` with a key/value cache: only the tokens not yet seen run through the blocks.

        state: keys and values (B, layers, nh, S, hs) of the S tokens seen so far (empty at the start).
        Past the context window every step re-reads the last `max_length` tokens, exactly as `step` does.
        """
        seen = state["keys"].shape[3] if state else 0
        if not state or tokens.shape[1] > self.config.max_length:
            seen, tokens = 0, tokens[:, -self.config.max_length :]  # (re)fill the cache from the window
        layers = range(len(self.stack.blocks))
        caches = [
            KeyValueCache(state["keys"][:, i], state["values"][:, i]) if seen else KeyValueCache()
            for i in layers
        ]
        logits = self(tokens[:, seen:], caches)[:, -1]  # (B, V)
        filled = [(cast(torch.Tensor, c.keys), cast(torch.Tensor, c.values)) for c in caches]  # by self()
        keys = torch.stack([k for k, _ in filled], dim=1)  # (B, layers, nh, S + new, hs)
        values = torch.stack([v for _, v in filled], dim=1)
        return logits, {"keys": keys, "values": values}


@dataclass(kw_only=True)
class GPTConfig(TransformerHyperparameters):
    """GPT's hyper-parameters (conf/model/gpt.yaml); the data gives the vocabulary."""

    layers: int = 4
    dropout: float = 0.0
    bias: bool = False
    block_size: int | None = None  # tokens of context; None: the data's max_length
    tie_embeddings: bool = True


class GPTModel(LanguageModelSampling, ZooModule):
    """Decoder-only Transformer for causal language modeling; `generate` samples continuations."""

    family = "gpt"
    supported_tasks = (TaskKind.LANGUAGE_MODELING,)
    packs_sequences = True
    config_class = GPTConfig
    config: GPTConfig

    def __init__(self, spec: TaskSpec | dict[str, Any], **options: Any) -> None:
        super().__init__(spec, **options)
        config = self.config
        stack = stack_config(config, self.spec.vocab_size, config.block_size or self.spec.max_length)
        self.net = GPT(stack, config.tie_embeddings)

    def forward(self, batch: Batch) -> Outputs:
        packed = {key: batch[key] for key in ("document_ids", "position_ids") if key in batch}
        return {"logits": self.net(batch["input_ids"], **packed)}  # (B, T, V)

    def decoding_step(self, use_cache: bool) -> StepFunction:
        return self.net.cached_step if use_cache else self.net.step
