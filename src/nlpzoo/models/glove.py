"""GloVe (Pennington et al., 2014): word and context vectors fit by weighted least squares to the
log co-occurrence counts, f(X) (w_i . w~_j + b_i + b~_j - log X_ij)^2, with f(X) = min(1, (X/x_max)^alpha).

Training is AdaGrad done by hand (manual optimization, no autograd): a batch of non-zero cells
takes one step, its gradients summed per row with `index_add_` into dense tables, then
torch.optim.Adagrad's rule on them. That is what sparse embeddings with torch's Adagrad computed,
without their per-step coalescing of sparse gradients (most of an epoch's time, measured). The
squared-gradient sums are buffers, so a resumed run continues the same AdaGrad.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import nn

from nlpzoo.errors import ConfigError
from nlpzoo.models.word_vectors import WordVectorConfig, WordVectorModule
from nlpzoo.tasks import Batch, TaskSpec

TABLES = ("word", "context", "word_bias", "context_bias")


@dataclass
class GloVeConfig(WordVectorConfig):
    """GloVe's hyper-parameters (conf/model/glove.yaml): vector size and the weighting f(X)'s x_max, alpha."""

    dim: int = 100
    x_max: float = 100.0
    alpha: float = 0.75


class GloVe(WordVectorModule):
    """GloVe on the corpus's co-occurrence batches (data.batch_format=cooccurrence); the exported
    vectors are w + w~, as in the paper. `optimizer`: torch.optim.Adagrad's lr, initial_accumulator_value
    and eps."""

    family = "glove"
    batch_format = "cooccurrence"
    config_class = GloVeConfig
    config: GloVeConfig

    def __init__(self, spec: TaskSpec | dict[str, Any], **options: Any) -> None:
        options["optimizer"] = options.get("optimizer") or {"_target_": "torch.optim.Adagrad", "lr": 0.05}
        super().__init__(spec, **options)
        if (
            self.optimizer_config.get("_target_") != "torch.optim.Adagrad"
            or "lr" not in self.optimizer_config
        ):
            raise ConfigError(
                f"GloVe trains with its own AdaGrad: model.optimizer must be torch.optim.Adagrad with an lr, "
                f"not {self.optimizer_config}"
            )
        if self.scheduler_config:
            raise ConfigError("GloVe's AdaGrad takes no learning-rate schedule: set model.scheduler=null")
        self.automatic_optimization = False
        self.lr = float(self.optimizer_config["lr"])
        self.eps = float(self.optimizer_config.get("eps", 1e-10))
        start = float(self.optimizer_config.get("initial_accumulator_value", 0.0))
        vocab, dim = self.spec.vocab_size, self.config.dim
        self.word = nn.Embedding(vocab, dim)
        self.context = nn.Embedding(vocab, dim)
        self.word_bias = nn.Embedding(vocab, 1)
        self.context_bias = nn.Embedding(vocab, 1)
        for table in (self.word, self.context):
            nn.init.uniform_(table.weight, -0.5 / dim, 0.5 / dim)
        for table in (self.word_bias, self.context_bias):
            nn.init.zeros_(table.weight)
        for name in TABLES:  # AdaGrad's sums of squared gradients, one per parameter
            self.register_buffer(f"{name}_squares", torch.full_like(getattr(self, name).weight, start))

    def tables(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The four parameter tables (word, context, their biases) and their squared-gradient sums."""
        return [getattr(self, name).weight for name in TABLES], [
            getattr(self, f"{name}_squares") for name in TABLES
        ]

    def training_loss(self, batch: Batch) -> torch.Tensor:
        """Mean weighted squared error of the batch's cells, without updating anything."""
        rows, cols, counts = batch["row_ids"], batch["col_ids"], batch["cooccurrence"]  # (B,)
        diff = self.cell_errors(rows, cols, counts)
        return 0.5 * (self.cell_weights(counts) * diff.pow(2)).mean()

    def cell_errors(
        self,
        rows: torch.Tensor,
        cols: torch.Tensor,
        counts: torch.Tensor,
        vectors: tuple[torch.Tensor, ...] = (),
    ) -> torch.Tensor:
        """w_i . w~_j + b_i + b~_j - log X_ij of each cell (B,); `vectors`: w_i and w~_j (B, D) if gathered."""
        word, context = vectors or (self.word.weight[rows], self.context.weight[cols])
        predicted = torch.einsum("bd,bd->b", word, context)  # (B,); einsum: ~2x vecdot's speed on CPU
        return predicted + self.word_bias.weight[rows, 0] + self.context_bias.weight[cols, 0] - counts.log()

    def cell_weights(self, counts: torch.Tensor) -> torch.Tensor:
        return (counts / self.config.x_max).pow(self.config.alpha).clamp(max=1.0)

    @torch.no_grad()
    def adagrad_pass(self, batch: Batch) -> float:
        """One AdaGrad step on the batch's cells; returns their summed loss (before the step)."""
        rows, cols, counts = batch["row_ids"], batch["col_ids"], batch["cooccurrence"]  # (B,)
        (word, context, word_bias, context_bias), squares = self.tables()
        word_rows, context_cols = word.index_select(0, rows), context.index_select(0, cols)  # (B, D) each
        diff = self.cell_errors(rows, cols, counts, (word_rows, context_cols))
        fdiff = self.cell_weights(counts) * diff  # (B,) d loss / d prediction
        grads = [
            torch.zeros_like(word).index_add_(0, rows, fdiff[:, None] * context_cols),  # (V, D)
            torch.zeros_like(context).index_add_(0, cols, fdiff[:, None] * word_rows),
            torch.zeros_like(word_bias).index_add_(0, rows, fdiff[:, None]),  # (V, 1)
            torch.zeros_like(context_bias).index_add_(0, cols, fdiff[:, None]),
        ]
        for table, square, grad in zip((word, context, word_bias, context_bias), squares, grads, strict=True):
            square.addcmul_(grad, grad)  # rows without a cell in the batch have grad 0: unchanged
            table.addcdiv_(grad, square.sqrt().add_(self.eps), value=-self.lr)
        return float(0.5 * (fdiff * diff).sum())

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        total = self.adagrad_pass(batch)
        cast(LightningOptimizer, self.optimizers()).step()  # no gradients, no change: it counts the step
        cells = len(batch["row_ids"])
        loss = torch.tensor(total / max(cells, 1))
        self.log("train/loss", loss, prog_bar=True, batch_size=max(cells, 1))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """A gradient-free optimizer whose steps count batches (checkpoints, logging, max_steps);
        the update itself is GloVe's AdaGrad, in `adagrad_pass`."""
        for parameter in self.parameters():
            parameter.requires_grad_(False)  # no autograd anywhere: every update is by hand
        return torch.optim.SGD(self.parameters(), lr=self.lr)  # never steps a gradient

    def word_vectors(self) -> torch.Tensor:
        return self.word.weight + self.context.weight
