"""The recurrent family: RNN, LSTM and GRU encoders (stacked, bidirectional) with a head per task kind.

Classification pools the token states; tagging scores every token (optionally with character
features and a CRF); language modeling predicts the next token with tied embeddings; sentence
pairs are encoded jointly, or one at a time by the same (siamese) encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from omegaconf import DictConfig
from torch import nn

from nlpzoo.errors import ConfigError
from nlpzoo.models.base import ZooModule, configured_task, fit_to_task
from nlpzoo.models.decoding import LanguageModelSampling, State, StepFunction
from nlpzoo.models.heads import CharCNN, EncoderWithHead, masked_mean, task_head
from nlpzoo.models.precision import run_recurrent
from nlpzoo.models.recurrence_by_length import recur_by_length
from nlpzoo.tasks import Batch, TaskKind, TaskSpec

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# Characters per word the character CNN reads when the data config asks for none (data.max_word_chars);
# 20 keeps whole words for all but 27 of CoNLL-2003's 203,621 training tokens.
CHAR_WORD_LENGTH = 20
Pooling = Literal["last", "mean", "max", "attention"]


class RecurrentEncoder(nn.Module):
    """Embeddings then a (bi)directional RNN/LSTM/GRU over the real (unpadded) tokens."""

    def __init__(
        self,
        vocab_size: int,
        pad_token_id: int,
        cell: str,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        word_feature_size: int = 0,
        word_dropout: float = 0.0,
        unk_token_id: int | None = None,
        embedding_init_std: float | None = None,
    ) -> None:
        super().__init__()
        if word_dropout > 0 and unk_token_id is None:
            raise ConfigError(
                "model.word_dropout > 0 replaces words by the unknown token, but the tokenizer has none"
            )
        self.word_dropout = word_dropout
        self.unk_token_id = unk_token_id
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_token_id)
        if embedding_init_std is not None:
            # N(0, 1) (PyTorch's default) makes the first inputs ~10x larger than the recurrent weights'
            # range; flax examples/sst2 draws N(0, 0.1), Lample et al. a similar small uniform.
            nn.init.normal_(self.embedding.weight, std=embedding_init_std)
            self.embedding.weight.data[pad_token_id].zero_()
        self.rnn = CELLS[cell](
            embedding_dim + word_feature_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(dropout)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, word_features: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states (batch, seq, output_size) and the final state (batch, output_size).

        `word_features` (batch, seq, F), e.g. character features, are appended to the embeddings.
        """
        if self.training and self.word_dropout > 0 and self.unk_token_id is not None:  # checked in __init__
            # Word dropout (Iyyer et al. 2015; flax examples/sst2): a random share of the real tokens reads as
            # the unknown word, so the model leans less on single words and learns an [UNK] vector it can use.
            dropped = (
                torch.rand(input_ids.shape, device=input_ids.device) < self.word_dropout
            ) & attention_mask.bool()
            input_ids = input_ids.masked_fill(dropped, self.unk_token_id)
        embedded = self.embedding(input_ids)  # (B, T, E)
        if word_features is not None:
            embedded = torch.cat([embedded, word_features], dim=-1)  # (B, T, E + F)
        embedded = self.dropout(embedded)
        states, hidden = recur_by_length(self.rnn, embedded, attention_mask)
        # The last layer's final state; both directions when bidirectional.
        last = torch.cat([hidden[-2], hidden[-1]], dim=-1) if self.rnn.bidirectional else hidden[-1]
        return self.dropout(states), self.dropout(last)


class AttentionPooling(nn.Module):
    """Keys-only MLP attention (Bahdanau et al. 2015, as flax examples/sst2 reads a sentence): a score per
    token from tanh(W h), softmax over the real tokens, the weighted sum of the states."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.keys = nn.Linear(hidden_size, hidden_size, bias=False)
        self.energy = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        scores = self.energy(torch.tanh(self.keys(states))).squeeze(-1)  # (B, T)
        scores = scores.masked_fill(attention_mask == 0, torch.finfo(scores.dtype).min)
        weights = scores.softmax(-1).to(states.dtype)
        return (weights.unsqueeze(1) @ states).squeeze(1)  # (B, H)


def pool(
    states: torch.Tensor, last: torch.Tensor, attention_mask: torch.Tensor, how: Pooling
) -> torch.Tensor:
    """(batch, seq, hidden) token states -> (batch, hidden) sentence vector, ignoring padding."""
    if how == "last":
        return last
    if how == "mean":
        return masked_mean(states, attention_mask)
    padding = attention_mask.unsqueeze(-1) == 0  # (B, T, 1)
    return states.masked_fill(padding, torch.finfo(states.dtype).min).max(1).values


@dataclass
class RecurrentConfig:
    """The recurrent family's hyper-parameters (conf/model/lstm.yaml, gru.yaml, rnn.yaml, ...)."""

    cell: Literal["rnn", "lstm", "gru"] = "lstm"
    embedding_dim: int = 128
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.3
    word_dropout: float = 0.0  # share of input words read as the unknown word while training
    embedding_init_std: float | None = None  # None: PyTorch's N(0, 1)
    pooling: Pooling = "max"
    classifier_hidden: int = 0  # > 0: a tanh hidden layer before the sentence classifier
    crf: bool = False
    char_features: bool = False
    char_buckets: int = 512
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ConfigError(f"model.cell='{self.cell}' is not one of {sorted(CELLS)}")


class RecurrentModel(EncoderWithHead, LanguageModelSampling, ZooModule):
    """RNN / LSTM / GRU (`cell`) encoder with the head the task kind needs."""

    family = "recurrent"
    supported_tasks = (
        TaskKind.TEXT_CLASSIFICATION,
        TaskKind.TOKEN_CLASSIFICATION,
        TaskKind.LANGUAGE_MODELING,
        TaskKind.SENTENCE_SIMILARITY,
        TaskKind.NLI,
    )
    config_class = RecurrentConfig
    config: RecurrentConfig

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Before data is read: a causal LM reads left to right; character features ask the data for
        char_ids; the tagger's options on another task name the overrides that turn them off."""
        model, kind = cfg.model, configured_task(cfg)
        if kind is TaskKind.LANGUAGE_MODELING and model.get("bidirectional", True):
            why = "a language model may not see the next token, so it reads left to right"
            fit_to_task(model, "bidirectional", False, why)
        tagger_options = [key for key in ("crf", "char_features") if model.get(key)]
        if tagger_options and kind is not TaskKind.TOKEN_CLASSIFICATION:
            raise ConfigError(
                f"model.{' and model.'.join(tagger_options)} serve token_classification, not {kind.value}: "
                f"add {' '.join(f'model.{key}=false' for key in tagger_options)} (or use model=lstm)"
            )
        if model.get("char_features") and not cfg.data.get("max_word_chars"):
            fit_to_task(
                cfg.data, "max_word_chars", CHAR_WORD_LENGTH, "the character CNN reads each word's characters"
            )

    def __init__(self, spec: TaskSpec | dict[str, Any], **options: Any) -> None:
        super().__init__(spec, **options)
        kind, config = self.spec.kind, self.config
        if kind is TaskKind.LANGUAGE_MODELING and config.bidirectional:
            raise ConfigError(
                "model.bidirectional=true cannot serve language_modeling (the backward direction sees the "
                "next token); set model.bidirectional=false"
            )
        if (config.crf or config.char_features) and kind is not TaskKind.TOKEN_CLASSIFICATION:
            raise ConfigError(
                f"model.crf and model.char_features apply to token_classification, not {kind.value}"
            )
        self.chars = CharCNN(config.char_buckets) if config.char_features else None
        self.encoder = RecurrentEncoder(
            self.spec.vocab_size,
            self.spec.pad_token_id,
            config.cell,
            config.embedding_dim,
            config.hidden_size,
            config.num_layers,
            config.bidirectional,
            config.dropout,
            word_feature_size=self.chars.output_size if self.chars else 0,
            word_dropout=config.word_dropout,
            unk_token_id=self.spec.unk_token_id,
            embedding_init_std=config.embedding_init_std,
        )
        size = self.encoder.output_size
        self.attention_pooling = AttentionPooling(size) if config.pooling == "attention" else None
        if kind is TaskKind.LANGUAGE_MODELING:
            self.head = TiedLanguageModelHead(size, self.encoder.embedding, config.tie_embeddings)
        else:
            self.head = task_head(
                self.spec, size, crf=config.crf, mlp_size=config.classifier_hidden, dropout=config.dropout
            )

    def token_states(self, batch: Batch) -> torch.Tensor:
        features = self.chars(char_ids_of(batch)) if self.chars is not None else None  # (B, T, F)
        return self.encoder(batch["input_ids"], batch["attention_mask"], features)[0]  # (B, T, H)

    def sentence_vector(self, batch: Batch, suffix: str = "") -> torch.Tensor:
        """(B, T) token ids -> (B, hidden) pooled sentence vector."""
        input_ids, attention_mask = batch[f"input_ids{suffix}"], batch[f"attention_mask{suffix}"]
        states, last = self.encoder(input_ids, attention_mask)
        if self.attention_pooling is not None:
            return self.attention_pooling(states, attention_mask)
        return pool(states, last, attention_mask, self.config.pooling)

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Language-model decoding step for `nlpzoo.models.decoding`: next-token logits (B, V).

        The RNN state is carried in `state` (hidden, and cell for LSTMs: (B, layers, H)), so each step
        reads only the newest token; the first step (empty state) reads the whole prompt.
        """
        rnn = self.encoder.rnn
        if state:
            hidden = state["hidden"].transpose(0, 1).contiguous()  # (layers, B, H)
            carried = (hidden, state["cell"].transpose(0, 1).contiguous()) if "cell" in state else hidden
            outputs, final = run_recurrent(rnn, self.encoder.embedding(tokens[:, -1:]), carried)  # (B, 1, H)
        else:
            outputs, final = run_recurrent(rnn, self.encoder.embedding(tokens))  # (B, T, H)
        hidden, cell = final if isinstance(final, tuple) else (final, None)
        state = {
            "hidden": hidden.transpose(0, 1),
            **({"cell": cell.transpose(0, 1)} if cell is not None else {}),
        }
        return self.head(outputs[:, -1]), state

    def decoding_step(self, use_cache: bool) -> StepFunction:
        """`step` (it always carries the RNN state), for `generate`; only the language-model head generates."""
        if self.spec.kind is not TaskKind.LANGUAGE_MODELING:
            raise ConfigError(
                f"generation needs the language-model head; this model serves {self.spec.kind.value}"
            )
        return self.step


class TiedLanguageModelHead(nn.Module):
    """Next-token logits through the input embedding matrix (Press & Wolf 2017), projected to its width."""

    def __init__(self, hidden_size: int, embedding: nn.Embedding, tie: bool = True) -> None:
        super().__init__()
        width = embedding.embedding_dim if tie else hidden_size
        self.projection = nn.Linear(hidden_size, width) if width != hidden_size else nn.Identity()
        self.decoder = nn.Linear(width, embedding.num_embeddings)
        if tie:
            self.decoder.weight = embedding.weight

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, T, V)."""
        return self.decoder(self.projection(states))


def char_ids_of(batch: Batch) -> torch.Tensor:
    """The batch's character ids (B, T, W): Unicode code points of each token's characters, 0 = padding."""
    if "char_ids" not in batch:
        raise ConfigError(
            "model.char_features=true needs batches with 'char_ids' (batch, seq, chars); "
            "enable character ids in the data config or set model.char_features=false"
        )
    return batch["char_ids"]
