"""NonFiniteLossGuard on a real Trainer: a batch with a NaN feature stops the run naming its step, or
(skip) leaves the weights exactly as if that batch had not been there."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from nlpzoo.callbacks import NonFiniteLossGuard
from nlpzoo.callbacks.non_finite_loss import all_finite
from nlpzoo.errors import TrainingDivergedError

BAD_BATCH = 3


class LinearRegression(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch  # (batch, 2), (batch, 1)
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def batches(with_bad_batch: bool) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6 * 4, 2, generator=generator)
    y = x.sum(-1, keepdim=True)
    if with_bad_batch:
        x[BAD_BATCH * 4] = float("nan")  # one corrupted feature in batch 3
    else:
        keep = [i for i in range(len(x)) if i // 4 != BAD_BATCH]
        x, y = x[keep], y[keep]
    return DataLoader(TensorDataset(x, y), batch_size=4)


def fit(loader: DataLoader, *callbacks: L.Callback) -> LinearRegression:
    model = LinearRegression()
    trainer = L.Trainer(
        max_epochs=1,
        callbacks=list(callbacks),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, loader)
    return model


def test_stop_raises_naming_the_step() -> None:
    with pytest.raises(
        TrainingDivergedError,
        match=rf"training loss is nan at global step {BAD_BATCH} \(epoch 0, batch {BAD_BATCH}\)",
    ):
        fit(batches(with_bad_batch=True), NonFiniteLossGuard("stop"))


def test_skip_changes_nothing_for_that_batch() -> None:
    guard = NonFiniteLossGuard("skip")
    skipped = fit(batches(with_bad_batch=True), guard)
    without = fit(batches(with_bad_batch=False))
    assert guard.skipped_steps == [BAD_BATCH]
    for name, weight in without.state_dict().items():
        assert torch.equal(weight, skipped.state_dict()[name]), name


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, 2.0], True),
        ([1.0, float("nan")], False),
        ([float("inf"), 1.0], False),
        ([float("inf"), float("-inf")], False),  # sums to NaN
        ([3e38, 3e38], True),  # the sum overflows although every element is finite
    ],
)
def test_all_finite_screens_by_sum_without_false_answers(values: list[float], expected: bool) -> None:
    tensors = [torch.ones(4), torch.tensor(values)]
    assert all_finite(tensors) is expected
    assert all_finite([t.to(torch.bfloat16) for t in tensors]) is expected
