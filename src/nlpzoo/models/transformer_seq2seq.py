"""The encoder-decoder Transformer (Vaswani et al. 2017) for translation and summarization, with beam search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
from torch import nn

from nlpzoo.errors import ConfigError
from nlpzoo.models.base import ZooModule
from nlpzoo.models.decoding import Seq2SeqSearch, State, StepFunction
from nlpzoo.models.transformer import (
    Embeddings,
    KeyValueCache,
    Stack,
    TransformerConfig,
    TransformerHyperparameters,
    init_weights,
    key_padding_mask,
    stack_config,
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
            # every cache is filled now, by the decoder pass above
            state |= cast(State, {f"keys.{i}": caches[i].keys, f"values.{i}": caches[i].values})
            state |= cast(State, {f"memory_keys.{i}": cross[i].keys, f"memory_values.{i}": cross[i].values})
        return self.lm_head(x[:, -1]), state  # (B, V)


@dataclass(kw_only=True)
class TransformerSeq2SeqConfig(TransformerHyperparameters):
    """The encoder-decoder's hyper-parameters (conf/model/transformer.yaml); the data gives the vocabularies."""

    dim: int = 256
    positions: Literal["sinusoidal", "learned"] = "sinusoidal"
    encoder_layers: int = 3
    decoder_layers: int = 3
    scale_embeddings: bool | None = None
    tie_embeddings: bool = True
    init: Literal["normal", "xavier"] = "normal"
    beam_size: int = 4
    length_penalty: float = 1.0
    max_generate_length: int | None = None  # None: the data's max_target_length

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init not in ("normal", "xavier"):
            raise ConfigError(f"model.init='{self.init}' is not one of normal, xavier")


class TransformerSeq2SeqModel(Seq2SeqSearch, ZooModule):
    """Encoder-decoder Transformer; greedy (`beam_size=1`) or beam-search generation in evaluation."""

    family = "transformer"
    supported_tasks = (TaskKind.SEQ2SEQ,)
    config_class = TransformerSeq2SeqConfig
    config: TransformerSeq2SeqConfig

    def __init__(self, spec: TaskSpec | dict[str, Any], **options: Any) -> None:
        super().__init__(spec, **options)
        config, spec = self.config, self.spec
        target_length = max(spec.max_target_length or spec.max_length, config.max_generate_length or 0) + 1
        target_vocab = spec.target_vocab_size or spec.vocab_size
        source = stack_config(config, spec.vocab_size, spec.max_length, layers=config.encoder_layers)
        target = stack_config(config, target_vocab, target_length, layers=config.decoder_layers)
        shared_vocabulary = self.spec.target_vocab_size is None
        self.net = EncoderDecoderTransformer(
            source, target, shared_vocabulary, config.tie_embeddings, config.init
        )

    def search_start(self, batch: Batch, use_cache: bool) -> tuple[StepFunction, State]:
        """`use_cache=False` recomputes the whole prefix every token (the reference the cache is tested against)."""
        step = self.net.cached_step if use_cache else self.net.step
        return step, self.net.encode(batch["input_ids"], batch["attention_mask"])

    def forward(self, batch: Batch) -> Outputs:
        state = self.net.encode(batch["input_ids"], batch["attention_mask"])
        outputs: Outputs = {"logits": self.net.decode(batch["decoder_input_ids"], state)}  # (B, S, V)
        if not self.training:
            outputs["generated_ids"] = self.generate(batch)
        return outputs
