"""Task heads shared by the from-scratch encoders (recurrent, Transformer): one class per task shape.

Each head maps encoder states to the outputs the task objective expects (see the contract in
`nlpzoo.tasks.objective`), so a family only has to produce token states and sentence vectors:
`task_head` picks the head for a task kind, `EncoderWithHead.forward` feeds it.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from nlpzoo.models.crf import CRF, left_align
from nlpzoo.tasks import IGNORE_INDEX, Batch, Outputs, TaskKind, TaskSpec
from nlpzoo.tasks.token_classification import tagged_positions


def masked_mean(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, H) -> (B, H): the mean of the real tokens' states (zeros for a row with none).

    The count is clamped at 1, not at an epsilon: counts are whole, and 1e-9 is 0 in float16.
    """
    mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, T, 1)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class CharCNN(nn.Module):
    """Character-level word features (Ma & Hovy 2016): char embeddings, a 1-D convolution, max over chars.

    Characters arrive as Unicode code points and are hashed into `buckets` embeddings, so no
    character vocabulary has to travel from the data to the model.
    """

    def __init__(self, buckets: int = 512, char_dim: int = 30, filters: int = 50, width: int = 3) -> None:
        super().__init__()
        self.buckets = buckets
        self.embedding = nn.Embedding(buckets, char_dim, padding_idx=0)
        self.conv = nn.Conv1d(char_dim, filters, width, padding=width // 2)
        self.output_size = filters

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """char_ids (B, T, W), 0 = padding -> word features (B, T, filters)."""
        batch, steps, width = char_ids.shape
        hashed = torch.where(char_ids > 0, char_ids % (self.buckets - 1) + 1, 0)  # (B, T, W), 0 = padding
        chars = self.embedding(hashed.view(batch * steps, width)).transpose(1, 2)  # (B*T, E, W)
        features = self.conv(chars).masked_fill((char_ids.view(batch * steps, 1, width) == 0), -1e4)
        return features.max(-1).values.clamp(min=-1.0).view(batch, steps, -1)  # all-padding words -> -1


class TokenTaggingHead(nn.Module):
    """Tag scores per token, decoded independently (softmax) or jointly with a CRF (Lample et al. 2016)."""

    def __init__(self, hidden_size: int, num_tags: int, crf: bool = False) -> None:
        super().__init__()
        self.projection = nn.Linear(hidden_size, num_tags)
        self.crf = CRF(num_tags) if crf else None

    def forward(self, states: torch.Tensor, batch: Batch, decode: bool) -> Outputs:
        """states (B, T, H) -> logits (B, T, C); with a CRF also loss and predictions (B, T), -100 unlabelled."""
        logits = self.projection(states)  # (B, T, C)
        if self.crf is None:
            return {"logits": logits}
        outputs: Outputs = {"logits": logits}
        labels = batch.get("labels")
        if labels is not None:
            emissions, positions, mask = left_align(
                logits, chained_positions(batch)
            )  # (B, T, C), (B, T), (B, T)
            tags = labels.gather(1, positions).masked_fill(~mask, 0).clamp(min=0)  # (B, T)
            outputs["loss"] = self.crf.neg_log_likelihood(emissions, tags, mask)
        if decode:
            outputs["predictions"] = self.viterbi(logits, batch)
        return outputs

    def viterbi(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The CRF's best tags (B, T) from emissions (B, T, C), -100 at unchained positions.

        Also run on emissions computed elsewhere (ONNX Runtime), so served tags decode as here.
        """
        emissions, positions, mask = left_align(logits, chained_positions(batch))
        crf = cast(CRF, self.crf)  # only a CRF head decodes jointly
        best = crf.decode(emissions, mask).masked_fill(~mask, IGNORE_INDEX)  # (B, T) aligned
        return torch.full_like(best, IGNORE_INDEX).scatter(1, positions, best)  # back to token positions


def chained_positions(batch: Batch) -> torch.Tensor:
    """(B, T) positions a CRF chains: the labelled ones (words); without labels each word's first
    subword (prediction input), else every real token. Each row keeps at least one step."""
    keep = tagged_positions(batch).clone()
    keep[:, 0] |= ~keep.any(1)  # a sentence without labels still needs one step
    return keep


class SpanHead(nn.Module):
    """Extractive QA: a start and an end score per token (Devlin et al. 2019), padding excluded."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.projection = nn.Linear(hidden_size, 2)

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> Outputs:
        """states (B, T, H) -> start_logits, end_logits (B, T)."""
        logits = self.projection(states).masked_fill(attention_mask.unsqueeze(-1) == 0, -1e4)  # (B, T, 2)
        start, end = logits.unbind(-1)
        return {"start_logits": start, "end_logits": end}


class SiamesePairHead(nn.Module):
    """Two sentence vectors u, v from one shared encoder: [u, v, |u-v|, u*v] for NLI (InferSent),
    a learned affine map of cos(u, v) for similarity (Sentence-BERT), so any label scale fits."""

    def __init__(self, hidden_size: int, num_labels: int, similarity: bool) -> None:
        super().__init__()
        self.similarity = similarity
        if similarity:
            self.scale = nn.Parameter(torch.ones(()))
            self.shift = nn.Parameter(torch.zeros(()))
        else:
            self.classifier = nn.Sequential(
                nn.Linear(4 * hidden_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, num_labels)
            )

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> Outputs:
        """u, v (B, H) -> scores (B,) or logits (B, num_labels)."""
        if self.similarity:
            return {"scores": self.scale * F.cosine_similarity(u, v, dim=-1) + self.shift}
        return {"logits": self.classifier(torch.cat([u, v, (u - v).abs(), u * v], dim=-1))}


class SentenceHead(nn.Module):
    """One vector per text (or jointly encoded pair) -> class logits (B, C), or a score (B,) when regressing."""

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        regression: bool = False,
        mlp_size: int = 0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.regression = regression
        # mlp_size > 0: a tanh hidden layer first (flax examples/sst2's MLP classifier), dropout after it.
        self.hidden = (
            nn.Sequential(nn.Linear(hidden_size, mlp_size), nn.Tanh(), nn.Dropout(dropout))
            if mlp_size
            else None
        )
        self.projection = nn.Linear(mlp_size or hidden_size, 1 if regression else num_labels)

    def forward(self, sentence: torch.Tensor) -> Outputs:
        if self.hidden is not None:
            sentence = self.hidden(sentence)
        scores = self.projection(sentence)  # (B, C) or (B, 1)
        return {"scores": scores.squeeze(-1)} if self.regression else {"logits": scores}


TOKEN_LEVEL_KINDS = (
    TaskKind.TOKEN_CLASSIFICATION,
    TaskKind.EXTRACTIVE_QA,
    TaskKind.LANGUAGE_MODELING,
    TaskKind.MASKED_LANGUAGE_MODELING,
)


def task_head(
    spec: TaskSpec, size: int, crf: bool = False, mlp_size: int = 0, dropout: float = 0.0
) -> nn.Module:
    """The head for the spec's task kind over `size`-wide states (a language model's is the family's own);
    `mlp_size` > 0 puts a tanh hidden layer before a sentence classifier."""
    kind, similarity = spec.kind, spec.kind is TaskKind.SENTENCE_SIMILARITY
    if kind is TaskKind.TOKEN_CLASSIFICATION:
        return TokenTaggingHead(size, spec.num_labels, crf=crf)
    if kind is TaskKind.EXTRACTIVE_QA:
        return SpanHead(size)
    if spec.pair_encoding == "bi":
        return SiamesePairHead(size, spec.num_labels, similarity=similarity)
    return SentenceHead(size, spec.num_labels, regression=similarity, mlp_size=mlp_size, dropout=dropout)


class EncoderWithHead:
    """`forward` of an encoder family with `head`: token-level kinds give it every token's state, the
    others one vector per text, two (the `_b` keys) for a siamese pair."""

    spec: TaskSpec
    head: nn.Module
    training: bool

    def token_states(self, batch: Batch) -> torch.Tensor:
        """(B, T) token ids -> (B, T, H) states."""
        raise NotImplementedError

    def sentence_vector(self, batch: Batch, suffix: str = "") -> torch.Tensor:
        """(B, T) ids under `input_ids{suffix}` -> (B, H) one vector per text."""
        raise NotImplementedError

    def forward(self, batch: Batch) -> Outputs:
        kind = self.spec.kind
        if kind in TOKEN_LEVEL_KINDS:
            states = self.token_states(batch)  # (B, T, H)
            if kind is TaskKind.TOKEN_CLASSIFICATION:
                return self.head(states, batch, decode=not self.training)
            if kind is TaskKind.EXTRACTIVE_QA:
                return self.head(states, batch["attention_mask"])
            return {"logits": self.head(states)}  # (B, T, V)
        if isinstance(self.head, SiamesePairHead):
            return self.head(self.sentence_vector(batch), self.sentence_vector(batch, "_b"))
        return self.head(self.sentence_vector(batch))
