"""Learning-rate schedules are built from a `_target_` like optimizers: the presets name the warmup
schedule (same curve as before they named it), and a schedule the user names is the one that runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from nlpzoo.errors import ConfigError
from nlpzoo.models import RecurrentModel
from nlpzoo.models.optimization import WARMUP_LR, build_scheduler, unfused_when_clipping
from nlpzoo.tasks import TaskKind
from nlpzoo.training import preflight
from tests.conftest import CONF, compose_config
from tests.test_scratch_families import TINY_RECURRENT, bare_trainer, classification_batch, make_spec

PRESETS = sorted(path.stem for path in (CONF / "model").glob("*.yaml"))
STEPS = 40
STEP_LR = "{_target_:torch.optim.lr_scheduler.StepLR,step_size:2,gamma:0.5}"


def preset_scheduler(name: str, tmp_path: Path) -> dict[str, Any] | None:
    cfg = compose_config([f"model={name}"], tmp_path)
    scheduler = cfg.model.get("scheduler")
    return OmegaConf.to_container(scheduler, resolve=True) if scheduler is not None else None


def lr_curve(config: dict[str, Any], steps: int = STEPS) -> list[float]:
    """The learning rate at each optimizer step, for a base rate of 1."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(config, optimizer, steps)
    curve = []
    for _ in range(steps):
        curve.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return curve


def reference_multiplier(step: int, warmup_steps: float, decay: str, min_lr_ratio: float) -> float:
    """The schedule as it was written before it had a `_target_`: linear warmup, then the decay."""
    warmup = int(warmup_steps * STEPS) if 0 < warmup_steps < 1 else int(warmup_steps)
    if step < warmup:
        return (step + 1) / warmup
    if decay == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, STEPS - warmup))
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if decay == "cosine" else 1.0 - progress
    return min_lr_ratio + (1 - min_lr_ratio) * shape


@pytest.mark.parametrize("name", PRESETS)
def test_preset_schedule_names_its_target_and_keeps_its_curve(name: str, tmp_path: Path) -> None:
    config = preset_scheduler(name, tmp_path)
    if config is None:
        pytest.skip(f"model={name} has no schedule")
    assert config["_target_"] == WARMUP_LR
    options = {k: v for k, v in config.items() if k != "_target_"}
    expected = [reference_multiplier(step, **options) for step in range(STEPS)]
    assert lr_curve(config) == pytest.approx(expected, abs=1e-12)
    # A checkpoint written before the presets named the target reloads onto the same curve.
    assert lr_curve(options) == pytest.approx(expected, abs=1e-12)


def test_lstm_preset_curve_by_hand(tmp_path: Path) -> None:
    """model=lstm over 40 steps: 2 warmup steps (5%), then cosine from 1 to 0."""
    curve = lr_curve(preset_scheduler("lstm", tmp_path))
    assert curve[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert curve[21] == pytest.approx(0.5)  # halfway through the 38 decay steps
    assert curve[39] == pytest.approx(0.5 * (1 + math.cos(math.pi * 37 / 38)))


def test_user_target_is_built_and_gets_total_steps_only_when_it_takes_them() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    step_lr = build_scheduler({"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 2}, optimizer, 10)
    assert isinstance(step_lr, torch.optim.lr_scheduler.StepLR)
    one_cycle = build_scheduler(
        {"_target_": "torch.optim.lr_scheduler.OneCycleLR", "max_lr": 0.1}, optimizer, 10
    )
    assert isinstance(one_cycle, torch.optim.lr_scheduler.OneCycleLR) and one_cycle.total_steps == 10


def test_user_scheduler_runs_through_train_py(train_run: Any, tmp_path: Path) -> None:
    """`~model.scheduler '+model.scheduler={_target_: StepLR, ...}'`: the checkpoint's scheduler is a
    StepLR that halved the rate every 2 of the run's 8 steps (the preset's warmup_lr would not)."""
    summary = train_run(["~model.scheduler", f"+model.scheduler={STEP_LR}"])
    assert summary["global_steps"] == 8  # 256 examples in batches of 32
    checkpoint = torch.load(summary["last_checkpoint"], map_location="cpu", weights_only=False)
    (state,) = checkpoint["lr_schedulers"]
    assert state["step_size"] == 2 and state["gamma"] == 0.5
    assert state["_last_lr"][0] == pytest.approx(2.0e-3 * 0.5**4)
    assert checkpoint["hyper_parameters"]["scheduler"]["_target_"] == "torch.optim.lr_scheduler.StepLR"


def test_unknown_key_of_user_scheduler_fails_at_start(tmp_path: Path) -> None:
    cfg = compose_config(
        ["~model.scheduler", "+model.scheduler={_target_:torch.optim.lr_scheduler.StepLR,step_sise:2}"],
        tmp_path,
    )
    with pytest.raises(ConfigError, match=r"unknown config key 'model\.scheduler\.step_sise'.*step_size"):
        preflight(cfg)


def test_word2vec_refuses_a_schedule_its_sgd_cannot_follow(tmp_path: Path) -> None:
    """word2vec steps by hand: a torch scheduler would never run, so naming one fails at start."""
    cfg = compose_config(
        ["experiment=default_run", "~model.scheduler", f"+model.scheduler={STEP_LR}"], tmp_path
    )
    with pytest.raises(
        ConfigError,
        match=r"'word2vec' follows scheduler\._target_=nlpzoo\.models\.optimization\.warmup_lr only",
    ):
        preflight(cfg)


PLATEAU = "{_target_:torch.optim.lr_scheduler.ReduceLROnPlateau,factor:0.5,patience:0}"


def test_plateau_scheduler_steps_on_the_monitored_metric_in_its_direction(train_run: Any) -> None:
    """ReduceLROnPlateau needs a metric: it gets the checkpoint's (val/acc, maximised) and steps after each
    validation; the rate halves once per epoch that did not beat the best dev accuracy so far."""
    summary = train_run(
        ["~model.scheduler", f"+model.scheduler={PLATEAU}", "trainer.max_epochs=4", "model.optimizer.lr=0.05"]
    )
    checkpoint = torch.load(summary["last_checkpoint"], map_location="cpu", weights_only=False)
    (state,) = checkpoint["lr_schedulers"]
    accuracies = [float(row["val/acc"]) for row in summary_rows(summary) if row.get("val/acc")][
        :4
    ]  # per epoch
    steps = state["last_epoch"]  # last.ckpt is written after the 4th validation, before that epoch's step
    assert state["mode"] == "max" and len(accuracies) == 4 and steps >= 3
    assert state["best"] == pytest.approx(max(accuracies[:steps]))
    worse, best = 0, -1.0
    for accuracy in accuracies[:steps]:
        worse, best = (worse, accuracy) if accuracy > best else (worse + 1, best)
    assert checkpoint["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0.05 * 0.5**worse)


def summary_rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    """The run's CSV log (one row per logging call)."""
    import csv

    (path,) = Path(summary["last_checkpoint"]).parents[1].glob("csv/**/metrics.csv")
    with path.open() as file:
        return list(csv.DictReader(file))


def test_plateau_scheduler_in_an_experiment_file_replaces_the_preset_schedule(tmp_path: Path) -> None:
    """sst2_lstm names ReduceLROnPlateau over the lstm preset's warmup_lr: none of warmup_lr's keys remain."""
    cfg = compose_config(["experiment=sst2_lstm"], tmp_path)
    preflight(cfg)
    assert OmegaConf.to_container(cfg.model.scheduler) == {
        "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "factor": 0.5,
        "patience": 0,
        "monitor": "val/acc",
        "mode": "max",
    }


class GradientNorms(L.Callback):
    """The total gradient norm each optimizer step applied, read when the next step zeroes them."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_before_zero_grad(self, trainer: L.Trainer, module: L.LightningModule, optimizer: Any) -> None:
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if grads:
            self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


@pytest.mark.parametrize(
    ("precision", "fused"), [("bf16-mixed", True), ("32-true", True), ("16-mixed", False)]
)
def test_fused_adamw_clips_where_no_grad_scaler_holds_the_gradients(precision: str, fused: bool) -> None:
    """bf16-mixed keeps the fused AdamW and clips its gradients; only fp16's grad scaler needs the unfused one."""
    assert bool(unfused_when_clipping({"fused": True}, precision, 1.0)["fused"]) is fused
    if precision.startswith("16"):
        return  # a grad scaler: Lightning's own (GPU) path
    torch.manual_seed(0)
    spec = make_spec(TaskKind.TEXT_CLASSIFICATION, label_names=["no", "yes"])
    optimizer = {"_target_": "torch.optim.AdamW", "lr": 1e-2, "fused": True}
    module = RecurrentModel(spec, **TINY_RECURRENT, optimizer=optimizer, scheduler=None)
    norms = GradientNorms()
    trainer = bare_trainer(
        precision=precision,  # type: ignore[arg-type]
        gradient_clip_val=1e-3,
        max_steps=3,
        callbacks=[norms],
    )
    batches = [classification_batch(torch.Generator().manual_seed(i)) for i in range(3)]
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    assert trainer.optimizers[0].defaults["fused"] is True
    assert len(norms.norms) == 2 and all(  # the steps before the last
        norm <= 1e-3 * 1.01 for norm in norms.norms
    )
