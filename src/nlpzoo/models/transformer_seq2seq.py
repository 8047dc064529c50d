"""The encoder-decoder Transformer (Vaswani et al. 2017) for translation and summarization, with beam search."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from nlpzoo.models.base import ZooModule
from nlpzoo.models.decoding import State, search
from nlpzoo.models.transformer import Embeddings, Stack, TransformerConfig, init_weights, key_padding_mask
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec


class EncoderDecoderTransformer(nn.Module):
    """Bidirectional encoder over the source; causal decoder with cross-attention over the encoder's states."""

    def __init__(self, source: TransformerConfig, target: TransformerConfig, shared_embeddings: bool) -> None:
        super().__init__()
        self.source_embeddings = Embeddings(source)
        self.target_embeddings = self.source_embeddings if shared_embeddings else Embeddings(target)
        self.encoder = Stack(source)
        self.decoder = Stack(target, cross_attention=True)
        self.lm_head = nn.Linear(target.dim, target.vocab_size, bias=False)
        self.apply(init_weights)
        self.lm_head.weight = self.target_embeddings.tokens.weight  # tied output (Press & Wolf 2017)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> State:
        """(B, S) source -> state: memory (B, S, D) and its mask (B, S)."""
        memory = self.encoder(self.source_embeddings(input_ids), mask=key_padding_mask(attention_mask))
        return {"memory": memory, "memory_mask": attention_mask}

    def decode(self, decoder_input_ids: torch.Tensor, state: State) -> torch.Tensor:
        """(B, T) target prefix -> (B, T, V) next-token logits."""
        x = self.target_embeddings(decoder_input_ids)
        x = self.decoder(x, causal=True, memory=state["memory"], memory_mask=key_padding_mask(state["memory_mask"]))
        return self.lm_head(x)

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Decoding step for `nlpzoo.models.decoding` (recomputes the prefix; no key/value cache)."""
        return self.decode(tokens, state)[:, -1], state


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
        pre_norm: bool = True,
        beam_size: int = 4,
        length_penalty: float = 1.0,
        max_generate_length: int | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        objective: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, optimizer, scheduler, objective)
        self.save_family_hyperparameters(
            dim=dim, heads=heads, encoder_layers=encoder_layers, decoder_layers=decoder_layers, mlp_ratio=mlp_ratio,
            dropout=dropout, positions=positions, pre_norm=pre_norm, beam_size=beam_size,
            length_penalty=length_penalty, max_generate_length=max_generate_length,
        )
        shared = dict(dim=dim, heads=heads, mlp_ratio=mlp_ratio, dropout=dropout, positions=positions, pre_norm=pre_norm)
        target_vocab = self.spec.target_vocab_size or self.spec.vocab_size
        target_length = max(self.spec.max_target_length or self.spec.max_length, max_generate_length or 0) + 1
        source = TransformerConfig(self.spec.vocab_size, self.spec.max_length, layers=encoder_layers, **shared)
        target = TransformerConfig(target_vocab, target_length, layers=decoder_layers, **shared)
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.max_generate_length = max_generate_length or self.spec.max_target_length or self.spec.max_length
        shared_vocabulary = bool(self.spec.extra.get("shared_vocabulary", self.spec.target_vocab_size is None))
        self.net = EncoderDecoderTransformer(source, target, shared_embeddings=shared_vocabulary)

    def generate(
        self, batch: Batch, beam_size: int | None = None, max_length: int | None = None,
        length_penalty: float | None = None,
    ) -> torch.Tensor:
        """(B, S_src) sources -> (B, <= max_length) generated target ids (padded after end-of-sequence)."""
        state = self.net.encode(batch["input_ids"], batch["attention_mask"])
        return search(
            self.net.step, state, self.spec, max_length or self.max_generate_length,
            beam_size or self.beam_size, self.length_penalty if length_penalty is None else length_penalty,
        )

    def forward(self, batch: Batch) -> Outputs:
        state = self.net.encode(batch["input_ids"], batch["attention_mask"])
        outputs: Outputs = {"logits": self.net.decode(batch["decoder_input_ids"], state)}  # (B, S, V)
        if not self.training:
            outputs["generated_ids"] = self.generate(batch)
        return outputs
