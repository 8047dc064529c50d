"""The recurrent family: RNN, LSTM and GRU encoders (stacked, bidirectional) with task heads."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlpzoo.errors import ConfigError
from nlpzoo.models.base import ZooModule
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
Pooling = Literal["last", "mean", "max"]


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
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_token_id)
        self.rnn = CELLS[cell](
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(dropout)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states (batch, seq, output_size) and the final state (batch, output_size)."""
        embedded = self.dropout(self.embedding(input_ids))  # (B, T, E)
        lengths = attention_mask.sum(-1).clamp(min=1).cpu()
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        packed_states, final = self.rnn(packed)
        states, _ = pad_packed_sequence(packed_states, batch_first=True, total_length=input_ids.shape[1])
        hidden = final[0] if isinstance(final, tuple) else final  # LSTM returns (h_n, c_n)
        # The last layer's final state; both directions when bidirectional.
        last = torch.cat([hidden[-2], hidden[-1]], dim=-1) if self.rnn.bidirectional else hidden[-1]
        return self.dropout(states), self.dropout(last)


def pool(states: torch.Tensor, last: torch.Tensor, attention_mask: torch.Tensor, how: Pooling) -> torch.Tensor:
    """(batch, seq, hidden) token states -> (batch, hidden) sentence vector, ignoring padding."""
    if how == "last":
        return last
    mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, T, 1)
    if how == "mean":
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return states.masked_fill(mask == 0, torch.finfo(states.dtype).min).max(1).values


class RecurrentModel(ZooModule):
    """RNN / LSTM / GRU (`cell`) with a classification head over pooled states."""

    family = "recurrent"
    supported_tasks = (TaskKind.TEXT_CLASSIFICATION,)

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        cell: Literal["rnn", "lstm", "gru"] = "lstm",
        embedding_dim: int = 128,
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.3,
        pooling: Pooling = "max",
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        objective: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, optimizer, scheduler, objective)
        if cell not in CELLS:
            raise ConfigError(f"model.cell='{cell}' is not one of {sorted(CELLS)}")
        self.save_family_hyperparameters(
            cell=cell,
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            pooling=pooling,
        )
        self.pooling = pooling
        self.encoder = RecurrentEncoder(
            self.spec.vocab_size,
            self.spec.pad_token_id,
            cell,
            embedding_dim,
            hidden_size,
            num_layers,
            bidirectional,
            dropout,
        )
        self.head = nn.Linear(self.encoder.output_size, self.spec.num_labels)

    def forward(self, batch: Batch) -> Outputs:
        states, last = self.encoder(batch["input_ids"], batch["attention_mask"])
        sentence = pool(states, last, batch["attention_mask"], self.pooling)
        return {"logits": self.head(sentence)}  # (B, num_labels)
