"""The encoder-decoder Transformer (Vaswani et al. 2017) for translation and summarization, with beam search."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from nlpzoo.errors import ConfigError
from nlpzoo.models.base import ZooModule
from nlpzoo.models.decoding import State, search
from nlpzoo.models.transformer import (
    Embeddings,
    KeyValueCache,
    Stack,
    TransformerConfig,
    init_weights,
    key_padding_mask,
    xavier_init,
)
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec


class EncoderDecoderTransformer(nn.Module):
    """Bidirectional encoder over the source; causal decoder with cross-attention over the encoder's states."""

    def __init__(
        self,
        source: TransformerConfig,
        target: TransformerConfig,
        shared_embeddings: bool,
        tie_embeddings: bool = True,
        init: Literal["normal", "xavier"] = "normal",
    ) -> None:
        super().__init__()
        self.source_embeddings = Embeddings(source)
        self.target_embeddings = self.source_embeddings if shared_embeddings else Embeddings(target)
        self.encoder = Stack(source)
        self.decoder = Stack(target, cross_attention=True)
        self.lm_head = nn.Linear(target.dim, target.vocab_size, bias=not tie_embeddings)
        self.apply({"normal": init_weights, "xavier": xavier_init}[init])
        if tie_embeddings:
            self.lm_head.weight = self.target_embeddings.tokens.weight  # tied output (Press & Wolf 2017)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> State:
        """(B, S) source -> state: memory (B, S, D) and its mask (B, S)."""
        memory = self.encoder(self.source_embeddings(input_ids), mask=key_padding_mask(attention_mask))
        return {"memory": memory, "memory_mask": attention_mask}

    def decode(self, decoder_input_ids: torch.Tensor, state: State) -> torch.Tensor:
        """(B, T) target prefix -> (B, T, V) next-token logits."""
        x = self.target_embeddings(decoder_input_ids)
        x = self.decoder(
            x, causal=True, memory=state["memory"], memory_mask=key_padding_mask(state["memory_mask"])
        )
        return self.lm_head(x)

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Decoding step for `nlpzoo.models.decoding` that recomputes the prefix (what `cached_step` is tested against)."""
        return self.decode(tokens, state)[:, -1], state

    def cached_step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """`step` with key/value caches: only the newest token runs through the decoder.

        state adds, per decoder layer i, `keys.i`/`values.i` (B, nh, t, hs) of the prefix's self-attention
        and `memory_keys.i`/`memory_values.i` (B, nh, S, hs) of the memory, projected once at the first step.
        All are plain state rows, so beam search reorders them like the memory.
        """
        layers = range(len(self.decoder.blocks))
        seen = state["keys.0"].shape[2] if "keys.0" in state else 0
        caches = [KeyValueCache(state.get(f"keys.{i}"), state.get(f"values.{i}")) for i in layers]
        cross = [
            KeyValueCache(state.get(f"memory_keys.{i}"), state.get(f"memory_values.{i}")) for i in layers
        ]
        x = self.target_embeddings(tokens[:, seen:], start=seen)  # (B, new, D)
        memory_mask = key_padding_mask(state["memory_mask"])
        x = self.decoder(
            x, causal=True, memory=state["memory"], memory_mask=memory_mask, caches=caches, cross_caches=cross
        )
        state = {"memory": state["memory"], "memory_mask": state["memory_mask"]}
        for i in layers:
            state |= {f"keys.{i}": caches[i].keys, f"values.{i}": caches[i].values}
            state |= {f"memory_keys.{i}": cross[i].keys, f"memory_values.{i}": cross[i].values}
        return self.lm_head(x[:, -1]), state  # (B, V)


class TransformerSeq2SeqModel(ZooModule):
    """Encoder-decoder Transformer; greedy (`beam_size=1`) or beam-search generation in evaluation."""

    family = "transformer"
    supported_tasks = (TaskKind.SEQ2SEQ,)

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        dim: int = 256,
        heads: int = 4,
        encoder_layers: int = 3,
        decoder_layers: int = 3,
        mlp_ratio: int = 4,
        dropout: float = 0.1,
        positions: Literal["sinusoidal", "learned"] = "sinusoidal",
        scale_embeddings: bool | None = None,
        pre_norm: bool = True,
        tie_embeddings: bool = True,
        init: Literal["normal", "xavier"] = "normal",
        beam_size: int = 4,
        length_penalty: float = 1.0,
        max_generate_length: int | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        objective: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, optimizer, scheduler, objective)
        self.save_family_hyperparameters(
            dim=dim,
            heads=heads,
            encoder_layers=encoder_layers,
            decoder_layers=decoder_layers,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            positions=positions,
            scale_embeddings=scale_embeddings,
            pre_norm=pre_norm,
            tie_embeddings=tie_embeddings,
            init=init,
            beam_size=beam_size,
            length_penalty=length_penalty,
            max_generate_length=max_generate_length,
        )
        if init not in ("normal", "xavier"):
            raise ConfigError(f"model.init='{init}' is not one of normal, xavier")
        shared = dict(
            dim=dim,
            heads=heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            positions=positions,
            scale_embeddings=scale_embeddings,
            pre_norm=pre_norm,
        )
        target_vocab = self.spec.target_vocab_size or self.spec.vocab_size
        target_length = max(self.spec.max_target_length or self.spec.max_length, max_generate_length or 0) + 1
        source = TransformerConfig(
            self.spec.vocab_size, self.spec.max_length, layers=encoder_layers, **shared
        )
        target = TransformerConfig(target_vocab, target_length, layers=decoder_layers, **shared)
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.max_generate_length = max_generate_length or self.spec.max_target_length or self.spec.max_length
        shared_vocabulary = self.spec.target_vocab_size is None
        self.net = EncoderDecoderTransformer(source, target, shared_vocabulary, tie_embeddings, init)

    def generate(
        self,
        batch: Batch,
        beam_size: int | None = None,
        max_length: int | None = None,
        length_penalty: float | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """(B, S_src) sources -> (B, <= max_length) generated target ids (padded after end-of-sequence).

        `use_cache=False` recomputes the whole prefix every token (the reference the cache is tested against).
        """
        state = self.net.encode(batch["input_ids"], batch["attention_mask"])
        return search(
            self.net.cached_step if use_cache else self.net.step,
            state,
            self.spec,
            max_length or self.max_generate_length,
            beam_size or self.beam_size,
            self.length_penalty if length_penalty is None else length_penalty,
        )

    def forward(self, batch: Batch) -> Outputs:
        state = self.net.encode(batch["input_ids"], batch["attention_mask"])
        outputs: Outputs = {"logits": self.net.decode(batch["decoder_input_ids"], state)}  # (B, S, V)
        if not self.training:
            outputs["generated_ids"] = self.generate(batch)
        return outputs
