"""word2vec (Mikolov et al., 2013): skip-gram and CBOW, trained with negative sampling and/or
hierarchical softmax on the corpus's window batches.

Training is word2vec's own SGD, done by hand (manual optimization, no autograd): each Lightning
batch is a span of the token stream, cut into sub-batches of `sub_batch_pairs` examples, each with
its own alpha (decaying linearly from `optimizer.lr` to `lr * scheduler.min_lr_ratio` over all of
training). On CPU the examples run through word2vec.c's per-example loop, compiled with numba and
split over torch's thread count without locks (`word2vec_kernel`; the `numba` extra). On other devices (and
on a CPU without numba) each
sub-batch gathers its rows, scores them, and adds alpha * gradient back with `index_add_` (rows
repeated in a sub-batch add up, as with word2vec's Hogwild threads).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from omegaconf import DictConfig
from torch import nn

from nlpzoo.errors import ConfigError
from nlpzoo.models.huffman import huffman_paths
from nlpzoo.models.optimization import WARMUP_LR, Schedule, warmup_schedule
from nlpzoo.models.word_vectors import WordVectorConfig, WordVectorModule
from nlpzoo.optional import installed
from nlpzoo.tasks import Batch, TaskSpec

Architecture = Literal["skipgram", "cbow"]
SCHEDULE_RESOLUTION = 1000  # alpha steps per Lightning batch (it changes per sub-batch, not per batch)
MAX_EXP = 6.0  # word2vec.c: a Huffman-node decision scoring beyond +-MAX_EXP makes no step
# Vectorized steps: a Huffman node on n > 16 of a sub-batch's paths (the root is on all of them) moves by
# 16 times its mean step, not by the sum of n. Summed, HS diverged; averaged, it did not learn (WordSim353
# 0.00); capped at 16, 0.62 on head500, as the per-example loop.
MAX_NODE_REPEATS = 16
log = logging.getLogger(__name__)


@functools.cache  # asked once per process, so the fallback is said once
def compiled_loop_available() -> bool:
    """word2vec.c's loop needs numba (the `numba` extra); without it the CPU takes the vectorized steps."""
    if installed("numba"):
        return True
    log.warning(
        "numba is not installed: word2vec trains with the vectorized torch steps on CPU, not word2vec.c's "
        'per-example loop (pip install "nlpzoo[numba]")'
    )
    return False


DEFAULT_OPTIMIZER = {"_target_": "torch.optim.SGD", "lr": 0.025}  # word2vec's starting alpha
# Linear decay to word2vec's last alpha, 0.0001.
DEFAULT_SCHEDULE = {"warmup_steps": 0, "decay": "linear", "min_lr_ratio": 0.0001 / 0.025}


@dataclass
class Word2VecConfig(WordVectorConfig):
    """word2vec's hyper-parameters (conf/model/word2vec.yaml, cbow.yaml)."""

    architecture: Architecture = "skipgram"
    dim: int = 100
    negative: bool = True  # negative sampling, with the corpus's noise words
    hierarchical_softmax: bool = False
    sub_batch_pairs: int = 1024  # examples per SGD sub-batch, each with its own alpha

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.architecture not in ("skipgram", "cbow"):
            raise ConfigError(f"model.architecture='{self.architecture}' is not one of: skipgram, cbow")
        if not (self.negative or self.hierarchical_softmax):
            raise ConfigError("word2vec needs negative sampling, hierarchical softmax or both")
        if self.sub_batch_pairs < 1:
            raise ConfigError(f"model.sub_batch_pairs={self.sub_batch_pairs} must be >= 1")


class Word2Vec(WordVectorModule):
    """Skip-gram (predict the center from each context word) or CBOW (predict the center from the
    mean of its context); `negative` uses the corpus's noise samples, `hierarchical_softmax` adds
    the Huffman-tree softmax."""

    family = "word2vec"
    config_class = Word2VecConfig
    config: Word2VecConfig
    hs_points: torch.Tensor  # buffers (register_buffer), declared for the type checker
    hs_labels: torch.Tensor
    hs_mask: torch.Tensor

    def __init__(self, spec: TaskSpec | dict[str, Any], **options: Any) -> None:
        options["optimizer"] = options.get("optimizer") or {**DEFAULT_OPTIMIZER}
        options["scheduler"] = options.get("scheduler") or {**DEFAULT_SCHEDULE}
        super().__init__(spec, **options)
        target = self.optimizer_config.get("_target_")
        if target != "torch.optim.SGD" or "lr" not in self.optimizer_config:
            raise ConfigError(
                f"word2vec trains with its own SGD: model.optimizer must be torch.optim.SGD with an lr "
                f"(the starting alpha), not {self.optimizer_config}"
            )
        self.automatic_optimization = False
        vocab, dim = self.spec.vocab_size, self.config.dim
        self.input_vectors = self.build_input_vectors(vocab, dim)
        # word2vec's initialisation: inputs uniform in +-0.5/dim, outputs zero.
        self.output_vectors = nn.Embedding(vocab, dim)
        nn.init.zeros_(self.output_vectors.weight)
        if self.config.hierarchical_softmax:
            points, codes, mask = huffman_paths(np.asarray(self.spec.counts))
            self.register_buffer("hs_points", torch.from_numpy(points).long(), persistent=False)  # (V, depth)
            self.register_buffer(
                "hs_labels", 1.0 - torch.from_numpy(codes).float(), persistent=False
            )  # code 0 -> 1
            self.register_buffer("hs_mask", torch.from_numpy(mask), persistent=False)
            self.node_vectors = nn.Embedding(max(vocab - 1, 1), dim)
            nn.init.zeros_(self.node_vectors.weight)

    # --- the input side (fastText overrides it with character n-gram bags) --------------------
    def build_input_vectors(self, vocab: int, dim: int) -> nn.Embedding | nn.EmbeddingBag:
        table = nn.Embedding(vocab, dim)
        nn.init.uniform_(table.weight, -0.5 / dim, 0.5 / dim)
        return table

    def input_rows(self, ids: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input-table rows of each example and the weight each has in its input vector:
        ids, valid (B, C) words (C = 1 for skip-gram) -> rows (B, R), weights (B, R) summing to 1."""
        weights = valid.float()
        return ids, weights / weights.sum(1, keepdim=True)

    def word_vectors(self) -> torch.Tensor:
        return self.input_vectors.weight

    # --- training -----------------------------------------------------------------------------
    def examples(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One row per training example: input words (B, C), their mask (B, C), target (B,), noise (B, K).
        Skip-gram, as in word2vec.c: the context word's input vector predicts the center (the
        same pairs seen from the other side). CBOW: the context mean predicts the center."""
        centers, contexts, mask = batch["input_ids"], batch["context_ids"], batch["context_mask"]
        noise = batch["negative_ids"]
        if self.config.architecture == "skipgram":
            if mask.device.type == "cpu":  # numpy finds the pairs ~20x faster than torch on one thread
                pairs = torch.from_numpy(np.flatnonzero(mask.numpy()))  # (M,) row-major, as the noise rows
            else:
                pairs = mask.reshape(-1).nonzero().squeeze(1)
            words = contexts.reshape(-1).index_select(0, pairs).unsqueeze(1)  # (M, 1)
            targets = centers.index_select(0, pairs // mask.shape[1])  # (M,)
            return words, torch.ones_like(words, dtype=torch.bool), targets, noise
        return contexts, mask, centers, noise[: len(centers)]

    def sgd_pass(self, batch: Batch, alphas: list[float] | None) -> tuple[float, int]:
        """Loss summed over the batch's examples, and their count. With `alphas` (one per sub-batch,
        see `sub_batches`) also apply word2vec's SGD update. One path per device: on CPU the
        compiled per-example loop (`word2vec_kernel`), elsewhere the vectorized torch steps."""
        threads = torch.get_num_threads()
        # The torch ops here are small and memory-bound: a second OpenMP thread gains nothing
        # (measured), and on a loaded machine its spinning barriers make each op up to 100x slower.
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                words, valid, targets, noise = self.examples(batch)
                if self.input_vectors.weight.device.type == "cpu" and compiled_loop_available():
                    parts = 1 if torch.are_deterministic_algorithms_enabled() else threads
                    return self.compiled_sgd(words, valid, targets, noise, alphas, parts), len(targets)
                return self.vectorized_sgd(words, valid, targets, noise, alphas), len(targets)
        finally:
            torch.set_num_threads(threads)

    def compiled_sgd(
        self,
        words: torch.Tensor,
        valid: torch.Tensor,
        targets: torch.Tensor,
        noise: torch.Tensor,
        alphas: list[float] | None,
        threads: int = 1,
    ) -> float:
        """word2vec.c's loop over examples (CPU tensors), Hogwild over `threads`; returns the summed loss."""
        # Imported here: numba and its process-wide threading layer only where word2vec trains on CPU.
        from nlpzoo.models.word2vec_kernel import sgd_examples

        rows, weights = self.input_rows(words, valid)  # (B, R)
        if self.config.hierarchical_softmax:
            hs = (self.node_vectors.weight, self.hs_points, self.hs_labels, self.hs_mask)
        else:  # paths of depth 0: the loop makes no node decision
            empty = torch.zeros(0, 0)
            hs = (empty, empty.long(), empty, empty.bool())
        return sgd_examples(
            self.input_vectors.weight.detach().numpy(),
            rows.numpy(),
            weights.float().numpy(),
            targets.numpy(),
            noise.numpy(),
            self.output_vectors.weight.detach().numpy(),
            *(table.detach().numpy() for table in hs),
            np.asarray(alphas or [0.0], np.float32),
            self.config.sub_batch_pairs,
            self.config.negative,
            alphas is not None,
            max(1, threads),
            MAX_EXP,
        )

    def sub_batches(self, batch: Batch) -> int:
        examples = (
            len(batch["negative_ids"]) if self.config.architecture == "skipgram" else len(batch["input_ids"])
        )
        return -(-examples // self.config.sub_batch_pairs)

    def vectorized_sgd(
        self,
        words: torch.Tensor,
        valid: torch.Tensor,
        targets: torch.Tensor,
        noise: torch.Tensor,
        alphas: list[float] | None,
    ) -> float:
        """The batch in sub-batches of `sub_batch_pairs` examples, each scored (and updated) at once; returns the summed loss."""
        total, size = 0.0, self.config.sub_batch_pairs
        for i, begin in enumerate(range(0, len(targets), size)):
            part = slice(begin, begin + size)
            alpha = None if alphas is None else alphas[i]
            total += self.sgd_step(words[part], valid[part], targets[part], noise[part], alpha)
        return total

    def sgd_step(
        self,
        words: torch.Tensor,
        valid: torch.Tensor,
        targets: torch.Tensor,
        noise: torch.Tensor,
        alpha: float | None,
    ) -> float:
        """Score one sub-batch (and update it when alpha is given); returns its summed loss."""
        table = self.input_vectors.weight
        rows, weights = self.input_rows(words, valid)  # (B, R)
        if rows.shape[1] == 1:
            inputs = table.index_select(0, rows[:, 0])  # (B, D)
        else:
            gathered = table.index_select(0, rows.reshape(-1)).view(*rows.shape, -1)  # (B, R, D)
            inputs = torch.bmm(weights.unsqueeze(1), gathered).squeeze(1)  # (B, D)
        input_grad: torch.Tensor | float = 0.0
        loss = 0.0
        if self.config.negative:
            candidates = torch.cat([targets.unsqueeze(1), noise], dim=1)  # (B, 1 + K)
            labels = (candidates == targets.unsqueeze(1)).to(inputs.dtype)  # (B, 1 + K)
            # word2vec skips a noise word equal to the target.
            keep = labels.clone()
            keep[:, 0] = 0.0
            keep = 1.0 - keep
            part, grad = self.binary_decisions(
                self.output_vectors.weight, inputs, candidates, labels, keep, alpha
            )
            loss, input_grad = loss + part, grad if isinstance(input_grad, float) else input_grad + grad
        if self.config.hierarchical_softmax:
            points, labels, mask = (
                self.hs_points[targets],
                self.hs_labels[targets],
                self.hs_mask[targets],
            )  # (B, depth)
            # Every path starts at the root: its summed step over a sub-batch is capped (MAX_NODE_REPEATS).
            part, grad = self.binary_decisions(
                self.node_vectors.weight, inputs, points, labels, mask, alpha, MAX_EXP, MAX_NODE_REPEATS
            )
            loss, input_grad = loss + part, grad if isinstance(input_grad, float) else input_grad + grad
        if alpha is not None and isinstance(input_grad, torch.Tensor):  # a tensor once a loss ran
            # The full error goes to every input row (word, context word or n-gram), as in word2vec.c.
            if rows.shape[1] == 1:
                table.index_add_(0, rows[:, 0], input_grad)
            else:
                used = weights > 0  # (B, R)
                spread = input_grad.unsqueeze(1).expand(-1, rows.shape[1], -1)[used]  # (used rows, D)
                table.index_add_(0, rows[used], spread)
        return loss

    @staticmethod
    def binary_decisions(
        table: torch.Tensor,
        inputs: torch.Tensor,
        rows: torch.Tensor,
        labels: torch.Tensor,
        keep: torch.Tensor,
        alpha: float | None,
        max_score: float | None = None,
        max_repeats: int | None = None,
    ) -> tuple[float, torch.Tensor | float]:
        """Logistic decisions of inputs (B, D) against table rows (B, T) with labels and keep (B, T):
        the negative-sampling targets and noise, or the Huffman path's nodes. Returns the summed
        loss and, with alpha (after adding alpha * gradient to the rows), the inputs' (B, D) step;
        decisions scoring beyond +-`max_score` make no step; a row used n > `max_repeats` times moves
        by max_repeats times its mean step."""
        outputs = table.index_select(0, rows.reshape(-1)).view(*rows.shape, -1)  # (B, T, D)
        scores = torch.bmm(outputs, inputs.unsqueeze(2)).squeeze(2)  # (B, T)
        keep = keep.to(scores.dtype)
        if max_score is not None:
            keep = keep * (scores.abs() < max_score)
        error = labels - torch.sigmoid(scores)  # (B, T) 1 - p(correct decision), signed
        loss = -float(torch.log(error.abs().neg_().add_(1.0).clamp_(min=1e-7)).mul_(keep).sum())
        if alpha is not None:
            gradient = error.mul_(keep).mul_(alpha)  # (B, T)
            input_grad = torch.bmm(gradient.unsqueeze(1), outputs).squeeze(1)  # (B, D)
            if max_repeats is not None:
                uses = torch.bincount(rows[keep > 0], minlength=table.shape[0]).float()  # (rows of table,)
                gradient = gradient * (max_repeats / uses.clamp(min=max_repeats))[rows]
            table.index_add_(
                0, rows.reshape(-1), (gradient.unsqueeze(2) * inputs.unsqueeze(1)).reshape(-1, table.shape[1])
            )
            return loss, input_grad
        return loss, 0.0

    def training_loss(self, batch: Batch) -> torch.Tensor:
        """Mean loss per example of a batch, without updating anything."""
        total, count = self.sgd_pass(batch, alphas=None)
        return torch.tensor(total / max(count, 1))

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Also: the SGD is by hand, so no torch scheduler steps it; it follows `warmup_lr`'s curve only."""
        super().check_config(cfg)
        target = (cfg.model.get("scheduler") or {}).get("_target_", WARMUP_LR)
        if target != WARMUP_LR:
            raise ConfigError(
                f"model family '{cls.family}' follows scheduler._target_={WARMUP_LR} only, not {target}"
            )

    def alpha_schedule(self) -> tuple[Schedule, int, float]:
        """The rate multiplier (the shared warmup/decay schedule), its total steps, and the start rate."""
        config = {"warmup_steps": 0, "decay": "linear", "min_lr_ratio": 0.0, **(self.scheduler_config or {})}
        total = max(1, int(self.trainer.estimated_stepping_batches)) * SCHEDULE_RESOLUTION
        return (
            warmup_schedule(total, config["warmup_steps"], config["decay"], config["min_lr_ratio"]),
            total,
            float(self.optimizer_config["lr"]),
        )

    def on_fit_start(self) -> None:
        self._schedule, self._schedule_steps, self._start_alpha = self.alpha_schedule()

    @torch.no_grad()  # every update is by hand: no autograd graph
    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        parts = self.sub_batches(batch)
        first = self.global_step * SCHEDULE_RESOLUTION  # restored on resume, so alpha continues
        steps = [
            min(first + (i * SCHEDULE_RESOLUTION) // parts, self._schedule_steps - 1) for i in range(parts)
        ]
        alphas = [self._start_alpha * self._schedule(step) for step in steps]
        total, count = self.sgd_pass(batch, alphas)
        cast(LightningOptimizer, self.optimizers()).step()  # no gradients, no change: it counts the step
        loss = torch.tensor(total / max(count, 1))
        self.log("train/loss", loss, prog_bar=True, batch_size=max(count, 1))
        self.log("train/alpha", alphas[0] if alphas else 0.0, batch_size=1)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """A gradient-free SGD whose steps count batches (checkpoints, logging, max_steps); the
        update itself is word2vec's, in `sgd_step`. The vectors stay `requires_grad` (they are trained,
        and the model summary says so); `training_step` runs without autograd."""
        return torch.optim.SGD(self.parameters(), lr=float(self.optimizer_config["lr"]))
