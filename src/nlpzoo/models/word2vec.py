"""word2vec (Mikolov et al., 2013): skip-gram and CBOW, trained with negative sampling and/or
hierarchical softmax on the corpus's window batches.

Embedding tables are sparse (`nn.Embedding(sparse=True)`), so each step touches only the rows of
its batch; with plain SGD and a linearly decaying rate this is word2vec's own update, summed
over a batch instead of applied one pair at a time.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nlpzoo.errors import ConfigError
from nlpzoo.models.huffman import huffman_paths
from nlpzoo.models.word_vectors import ExportFormat, WordVectorModule
from nlpzoo.tasks import Batch, TaskSpec

Architecture = Literal["skipgram", "cbow"]


class Word2Vec(WordVectorModule):
    """Skip-gram (predict each context word from the center) or CBOW (predict the center from the
    mean of its context); `negative` > 0 uses the corpus's noise samples, `hierarchical_softmax`
    adds the Huffman-tree softmax."""

    family = "word2vec"

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        architecture: Architecture = "skipgram",
        dim: int = 100,
        negative: bool = True,
        hierarchical_softmax: bool = False,
        max_row_updates: int | None = 16,
        probe_words: list[str] | None = None,
        export_format: ExportFormat | None = "binary",
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, probe_words, export_format, optimizer, scheduler)
        self.max_row_updates = max_row_updates
        if architecture not in ("skipgram", "cbow"):
            raise ConfigError(f"model.architecture='{architecture}' is not one of: skipgram, cbow")
        if not (negative or hierarchical_softmax):
            raise ConfigError("word2vec needs negative sampling, hierarchical softmax or both")
        self.save_family_hyperparameters(
            architecture=architecture,
            dim=dim,
            negative=negative,
            hierarchical_softmax=hierarchical_softmax,
            max_row_updates=max_row_updates,
            probe_words=self.probe_words,
            export_format=export_format,
        )
        self.architecture, self.negative, self.hierarchical_softmax = architecture, negative, hierarchical_softmax
        vocab = self.spec.vocab_size
        self.input_vectors = self.build_input_vectors(vocab, dim)
        # word2vec's initialisation: inputs uniform in +-0.5/dim, outputs zero.
        self.output_vectors = nn.Embedding(vocab, dim, sparse=True)
        nn.init.zeros_(self.output_vectors.weight)
        if hierarchical_softmax:
            points, codes, mask = huffman_paths(np.asarray(self.spec.extra["counts"]))
            self.register_buffer("hs_points", torch.from_numpy(points), persistent=False)  # (V, depth)
            self.register_buffer("hs_codes", torch.from_numpy(codes), persistent=False)
            self.register_buffer("hs_mask", torch.from_numpy(mask), persistent=False)
            self.node_vectors = nn.Embedding(max(vocab - 1, 1), dim, sparse=True)
            nn.init.zeros_(self.node_vectors.weight)

    def build_input_vectors(self, vocab: int, dim: int) -> nn.Module:
        table = nn.Embedding(vocab, dim, sparse=True)
        nn.init.uniform_(table.weight, -0.5 / dim, 0.5 / dim)
        return table

    def embed_inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """(...,) word ids -> (..., D) input vectors (fastText adds character n-grams here)."""
        return self.input_vectors(ids)

    def word_vectors(self) -> torch.Tensor:
        return self.input_vectors.weight

    def training_loss(self, batch: Batch) -> torch.Tensor:
        centers, contexts, mask = batch["input_ids"], batch["context_ids"], batch["context_mask"]
        if self.architecture == "skipgram":
            # One row per (center, context) pair; as in word2vec.c the context word's input vector
            # predicts the center word, which is the same set of pairs seen from the other side.
            inputs = self.damp_shared_rows(self.embed_inputs(contexts[mask]), contexts[mask])  # (M, D)
            targets = centers.unsqueeze(1).expand_as(mask)[mask]  # (M,)
        else:
            summed = (self.embed_inputs(contexts) * mask.unsqueeze(-1)).sum(1)  # (N, D)
            mean = summed / mask.sum(1, keepdim=True)
            # Forward: the context mean; backward: the full gradient to every context word, as
            # word2vec.c and gensim (cbow_mean=1) apply it, rather than 1/count of it.
            inputs = mean.detach() + (summed - summed.detach())
            targets = centers
        loss = inputs.new_zeros(())
        if self.negative:
            loss = loss + self.negative_sampling_loss(inputs, targets, batch["negative_ids"][: len(targets)])
        if self.hierarchical_softmax:
            loss = loss + self.hierarchical_softmax_loss(inputs, targets)
        return loss

    def damp_shared_rows(self, vectors: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Identity forward; backward scales the gradient of a row used n > max_row_updates times in
        this batch by max_row_updates / n. word2vec applies such updates one at a time, each seeing
        the last; summed in one step they overshoot and diverge (the Huffman root, frequent noise
        words), so a batch moves a row by at most `max_row_updates` sequential-sized steps.
        vectors (..., D) looked up with ids (...); ids < 0 are ignored."""
        if self.max_row_updates is None or not vectors.requires_grad:
            return vectors
        valid = ids >= 0
        uses = torch.bincount(ids[valid], minlength=1).float()
        scale = (self.max_row_updates / uses.clamp(min=self.max_row_updates))[ids.clamp(min=0)]
        vectors.register_hook(lambda grad: grad * scale.unsqueeze(-1).to(grad.dtype))
        return vectors

    def negative_sampling_loss(self, inputs: torch.Tensor, targets: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """-log s(u.v_t) - sum_k log s(-u.v_k), summed over rows; inputs (M, D), targets (M,), noise (M, K)."""
        candidates = torch.cat([targets.unsqueeze(1), noise], dim=1)  # (M, 1 + K)
        outputs = self.damp_shared_rows(self.output_vectors(candidates), candidates)  # (M, 1 + K, D)
        scores = torch.bmm(outputs, inputs.unsqueeze(2)).squeeze(2)  # (M, 1 + K)
        return -F.logsigmoid(scores[:, 0]).sum() - F.logsigmoid(-scores[:, 1:]).sum()

    def hierarchical_softmax_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Binary decisions along the target's Huffman path: code 0 -> label 1, as in word2vec.c."""
        points, codes, mask = self.hs_points[targets], self.hs_codes[targets], self.hs_mask[targets]  # (M, depth)
        nodes = self.damp_shared_rows(self.node_vectors(points), torch.where(mask, points, -1))  # (M, depth, D)
        scores = torch.bmm(nodes, inputs.unsqueeze(2)).squeeze(2)  # (M, depth)
        losses = F.binary_cross_entropy_with_logits(scores, 1.0 - codes, reduction="none")
        return (losses * mask).sum()
