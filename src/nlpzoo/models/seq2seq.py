"""Recurrent encoder-decoder (Sutskever et al. 2014), with additive (Bahdanau et al. 2015) or
multiplicative (Luong et al. 2015) attention, teacher forcing, and greedy / beam-search decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
from torch import nn

from nlpzoo.errors import ConfigError
from nlpzoo.models.base import ZooModule
from nlpzoo.models.decoding import Seq2SeqSearch, State, StepFunction, decoder_start_id, target_pad_id
from nlpzoo.models.precision import run_recurrent
from nlpzoo.models.recurrence_by_length import recur_by_length
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec

RNNS = {"gru": nn.GRU, "lstm": nn.LSTM}
AttentionKind = Literal["none", "additive", "multiplicative"]


class AdditiveAttention(nn.Module):
    """Bahdanau: score(q, k) = v^T tanh(W_q q + W_k k).

    W_k k does not depend on the decoder step: `project_keys` computes it once per source sentence
    (in Multi30k's recipe it was two thirds of every decoder step's multiply-adds).
    """

    def __init__(self, query_size: int, key_size: int, size: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_size, size, bias=False)
        self.key = nn.Linear(key_size, size)
        self.v = nn.Linear(size, 1, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """keys (B, S, K) -> W_k k + b (B, S, size), reused by every decoder step."""
        return self.key(keys)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, projected_keys: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Q), keys (B, S, K), their projection, mask (B, S) -> context (B, K), weights (B, S)."""
        scores = self.v(torch.tanh(self.query(query).unsqueeze(1) + projected_keys)).squeeze(-1)  # (B, S)
        weights = scores.masked_fill(mask == 0, float("-inf")).softmax(-1)
        return torch.bmm(weights.unsqueeze(1), keys).squeeze(1), weights


class MultiplicativeAttention(nn.Module):
    """Luong "general": score(q, k) = q^T W k, with W k computed once per source sentence."""

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.key = nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """keys (B, S, K) -> W k (B, S, Q), reused by every decoder step."""
        return self.key(keys)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, projected_keys: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Q), keys (B, S, K), their projection, mask (B, S) -> context (B, K), weights (B, S)."""
        scores = torch.bmm(projected_keys, query.unsqueeze(2)).squeeze(2)  # (B, S)
        weights = scores.masked_fill(mask == 0, float("-inf")).softmax(-1)
        return torch.bmm(weights.unsqueeze(1), keys).squeeze(1), weights


AttentionModule = AdditiveAttention | MultiplicativeAttention


class Encoder(nn.Module):
    """Bidirectional GRU/LSTM over the source; its final states become the decoder's initial state.

    Dropout falls on the embeddings (and between stacked layers) only, as in bentrevett/pytorch-seq2seq:
    dropping half of the memory as well kept Multi30k's validation BLEU near 15 after four epochs.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        cell: str,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.rnn = RNNS[cell](
            embedding_dim,
            hidden_size,
            num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.bridge = nn.Linear(2 * hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) -> memory (B, S, 2H) and the decoder's initial hidden state (B, layers, H)."""
        embedded = self.dropout(self.embedding(input_ids))
        memory, hidden = recur_by_length(self.rnn, embedded, attention_mask)  # hidden: (layers*2, B, H)
        layers = hidden.shape[0] // 2
        both = hidden.view(layers, 2, *hidden.shape[1:]).transpose(1, 2).flatten(2)  # (layers, B, 2H)
        return memory, torch.tanh(self.bridge(both)).transpose(0, 1)  # (B, layers, H)


class Decoder(nn.Module):
    """One step at a time: embed the previous token, update the RNN state, attend, predict the next token.

    `additive`: attend with the previous state, feed the context into the RNN (Bahdanau).
    `multiplicative`: attend with the new state, combine into an attentional state that is fed into
    the next step (Luong's input feeding). `none`: the RNN state alone (Sutskever).

    With tied embeddings the prediction reads a projection of [output, context, embedded] to the
    embedding size; untied, it reads the concatenation itself (bentrevett's notebook 3 `fc_out`).
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        cell: str,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        attention: AttentionKind,
        tie_embeddings: bool,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.attention_kind = attention
        memory_size = 2 * hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        feed = {"none": 0, "additive": memory_size, "multiplicative": embedding_dim}[
            attention
        ]  # input feeding: the attentional state
        self.rnn = RNNS[cell](
            embedding_dim + feed,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.attention: AttentionModule | None = None
        if attention == "additive":
            self.attention = AdditiveAttention(hidden_size, memory_size, hidden_size)
            prediction_input = hidden_size + memory_size + embedding_dim
        elif attention == "multiplicative":
            self.attention = MultiplicativeAttention(hidden_size, memory_size)
            prediction_input = hidden_size + memory_size
        else:
            prediction_input = hidden_size
        self.combine: nn.Module = nn.Identity()
        if attention == "multiplicative" or tie_embeddings:  # Luong's attentional state is embedding-sized
            self.combine = nn.Linear(prediction_input, embedding_dim)
            prediction_input = embedding_dim
        self.output = nn.Linear(prediction_input, vocab_size)
        if tie_embeddings:
            self.output.weight = self.embedding.weight
        self.dropout = nn.Dropout(dropout)

    def initial_state(self, memory: torch.Tensor, memory_mask: torch.Tensor, hidden: torch.Tensor) -> State:
        """The decoder state as batch-first tensors, so beam search can reorder its rows."""
        state = {"memory": memory, "memory_mask": memory_mask, "hidden": hidden}
        if self.attention is not None:
            state["memory_keys"] = cast(AttentionModule, self.attention).project_keys(memory)
        if self.cell == "lstm":
            state["cell"] = torch.zeros_like(hidden)
        if self.attention_kind == "multiplicative":
            state["feed"] = hidden.new_zeros(hidden.shape[0], self.embedding.embedding_dim)
        return state

    def forward(
        self, previous: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """previous tokens (N,) -> next-token logits (N, V), new state, attention weights (N, S) or None."""
        embedded = self.dropout(self.embedding(previous))  # (N, E)
        hidden = state["hidden"].transpose(0, 1).contiguous()  # (layers, N, H)
        recurrent = (hidden, state["cell"].transpose(0, 1).contiguous()) if self.cell == "lstm" else hidden
        weights = None
        if self.attention_kind == "additive":
            attention = cast(AttentionModule, self.attention)  # set for every attention_kind but none
            context, weights = attention(
                hidden[-1], state["memory"], state["memory_keys"], state["memory_mask"]
            )  # (N, 2H)
            rnn_input = torch.cat([embedded, context], dim=-1)
        elif self.attention_kind == "multiplicative":
            rnn_input = torch.cat([embedded, state["feed"]], dim=-1)
        else:
            rnn_input = embedded
        output, new = run_recurrent(self.rnn, rnn_input.unsqueeze(1), recurrent)
        output = output.squeeze(1)  # (N, H)
        new_hidden = new[0] if isinstance(new, tuple) else new  # an LSTM's (h_n, c_n)
        next_state = {**state, "hidden": new_hidden.transpose(0, 1)}
        if self.cell == "lstm":
            next_state["cell"] = new[1].transpose(0, 1)
        if self.attention_kind == "additive":
            combined = self.combine(torch.cat([output, context, embedded], dim=-1))
        elif self.attention_kind == "multiplicative":
            context, weights = cast(AttentionModule, self.attention)(
                output, state["memory"], state["memory_keys"], state["memory_mask"]
            )
            combined = torch.tanh(self.combine(torch.cat([output, context], dim=-1)))  # attentional state
            next_state["feed"] = combined
        else:
            combined = self.combine(output)
        return self.output(combined), next_state, weights


@dataclass
class Seq2SeqConfig:
    """The recurrent encoder-decoder's hyper-parameters (conf/model/seq2seq*.yaml)."""

    cell: Literal["gru", "lstm"] = "gru"
    attention: AttentionKind = "additive"
    embedding_dim: int = 256
    hidden_size: int = 512
    num_layers: int = 1
    dropout: float = 0.3
    tie_embeddings: bool = True
    teacher_forcing_ratio: float = 1.0  # share of steps fed the reference token while training
    beam_size: int = 1
    length_penalty: float = 1.0
    max_generate_length: int | None = None  # None: the data's max_target_length
    init_std: float | None = None  # every weight from N(0, init_std), biases 0; None: PyTorch's defaults

    def __post_init__(self) -> None:
        if self.init_std is not None and self.init_std <= 0:
            raise ConfigError(
                f"model.init_std={self.init_std} must be positive (or null for PyTorch's defaults)"
            )
        if self.cell not in RNNS:
            raise ConfigError(f"model.cell='{self.cell}' is not one of {sorted(RNNS)}")
        if self.attention not in ("none", "additive", "multiplicative"):
            raise ConfigError(
                f"model.attention='{self.attention}' is not one of none, additive, multiplicative"
            )
        if not 0.0 <= self.teacher_forcing_ratio <= 1.0:
            raise ConfigError(f"model.teacher_forcing_ratio={self.teacher_forcing_ratio} must lie in [0, 1]")


class Seq2SeqModel(Seq2SeqSearch, ZooModule):
    """GRU/LSTM encoder-decoder; `attention` none | additive | multiplicative."""

    family = "seq2seq"
    supported_tasks = (TaskKind.SEQ2SEQ,)
    config_class = Seq2SeqConfig
    config: Seq2SeqConfig

    def __init__(self, spec: TaskSpec | dict[str, Any], **options: Any) -> None:
        super().__init__(spec, **options)
        config, spec = self.config, self.spec
        shared = (config.cell, config.embedding_dim, config.hidden_size, config.num_layers, config.dropout)
        self.encoder = Encoder(spec.vocab_size, spec.pad_token_id, *shared)
        target_vocab = spec.target_vocab_size or spec.vocab_size
        self.decoder = Decoder(
            target_vocab, target_pad_id(spec), *shared, config.attention, config.tie_embeddings
        )
        if config.init_std is not None:
            # bentrevett/pytorch-seq2seq's init_weights, for comparing with its notebooks.
            for name, parameter in self.named_parameters():
                if "weight" in name:
                    nn.init.normal_(parameter, std=config.init_std)
                else:
                    nn.init.zeros_(parameter)

    def encode(self, batch: Batch) -> State:
        memory, hidden = self.encoder(batch["input_ids"], batch["attention_mask"])
        return self.decoder.initial_state(memory, batch["attention_mask"], hidden)

    def teacher_forced(
        self, decoder_input_ids: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decoder over (B, S) inputs -> logits (B, S, V) and attention weights (B, S, S_src) or None.

        With `teacher_forcing_ratio` < 1 (training only), each step feeds, per example, the model's own
        previous prediction instead of the reference token with probability 1 - ratio (Bengio et al. 2015).
        """
        logits, weights = [], []
        previous = decoder_input_ids[:, 0]
        for t in range(decoder_input_ids.shape[1]):
            step_logits, state, step_weights = self.decoder(previous, state)
            logits.append(step_logits)
            if step_weights is not None:
                weights.append(step_weights)
            if t + 1 < decoder_input_ids.shape[1]:
                previous = decoder_input_ids[:, t + 1]
                ratio = self.config.teacher_forcing_ratio
                if self.training and ratio < 1.0:
                    own = torch.rand(previous.shape, device=previous.device) >= ratio
                    previous = torch.where(own, step_logits.argmax(-1), previous)
        return torch.stack(logits, 1), torch.stack(weights, 1) if weights else None

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """The decoding step shared with `nlpzoo.models.decoding`: last generated token -> next logits."""
        logits, state, _ = self.decoder(tokens[:, -1], state)
        return logits, state

    def search_start(self, batch: Batch, use_cache: bool) -> tuple[StepFunction, State]:
        return self.step, self.encode(batch)  # the RNN state is the cache

    def attention_map(self, batch: Batch, target_ids: torch.Tensor) -> torch.Tensor | None:
        """Attention weights (B, S_tgt, S_src) of the decoder reading `target_ids`, e.g. a generated output."""
        start = torch.full_like(target_ids[:, :1], decoder_start_id(self.spec))
        return self.teacher_forced(torch.cat([start, target_ids[:, :-1]], 1), self.encode(batch))[1]

    def forward(self, batch: Batch) -> Outputs:
        logits, weights = self.teacher_forced(batch["decoder_input_ids"], self.encode(batch))
        outputs: Outputs = {"logits": logits}  # (B, S, V)
        if weights is not None:
            outputs["attentions"] = weights  # (B, S, S_src)
        if not self.training:
            outputs["generated_ids"] = self.generate(batch)  # (B, S')
        return outputs
