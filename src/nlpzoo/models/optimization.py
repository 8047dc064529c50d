"""Optimizers and learning-rate schedules from config dicts, shared by every family."""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from hydra.utils import get_object
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from nlpzoo.config import LIGHTNING_SCHEDULER_KEYS
from nlpzoo.errors import ConfigError

NO_DECAY_MARKERS = ("bias", "norm", "LayerNorm", "layer_norm", "embedding_norm")

log = logging.getLogger(__name__)


def unfused_when_clipping(
    config: dict[str, Any], precision: str, gradient_clip_val: float | None
) -> dict[str, Any]:
    """A fused optimizer unscales fp16 gradients inside its step, so under `16-mixed` (a grad scaler)
    Lightning cannot clip them first: such a run gets the unfused kernel and a log line, not a crash.
    bf16 has no scaler, and keeps the fused kernel (`ZooModule.configure_gradient_clipping`)."""
    if config.get("fused") and gradient_clip_val and str(precision).startswith("16"):
        log.info(
            "optimizer fused=false: Lightning cannot clip a fused optimizer's gradients under %s", precision
        )
        return {**config, "fused": False}
    return config


def parameter_groups(
    named_parameters: Iterable[tuple[str, torch.nn.Parameter]],
    weight_decay: float,
    lr_scale: Callable[[str], float] | None = None,
) -> list[dict[str, Any]]:
    """Weights decay, biases and normalization parameters do not (the usual recipe); with `lr_scale`
    (parameter name -> learning-rate multiplier, e.g. layer-wise decay) one such pair per multiplier."""
    groups: dict[tuple[bool, float], dict[str, Any]] = {}
    for name, parameter in named_parameters:
        if not parameter.requires_grad:
            continue
        decays = not (parameter.dim() < 2 or any(m in name for m in NO_DECAY_MARKERS))
        scale = lr_scale(name) if lr_scale else 1.0
        group = groups.setdefault(
            (decays, scale),
            {"params": [], "weight_decay": weight_decay if decays else 0.0, "lr_scale": scale},
        )
        group["params"].append(parameter)
    if not groups:
        return [{"params": [], "weight_decay": weight_decay, "lr_scale": 1.0}]
    return [groups[key] for key in sorted(groups, key=lambda k: (-k[1], not k[0]))]


def build_optimizer(
    config: dict[str, Any],
    named_parameters: Iterable[tuple[str, torch.nn.Parameter]],
    lr_scale: Callable[[str], float] | None = None,
) -> torch.optim.Optimizer:
    """`config` is a `_target_` dict (torch.optim.AdamW, torch.optim.SGD, ...) with its arguments;
    `lr_scale` multiplies the learning rate per parameter name (see `parameter_groups`)."""
    options = {k: v for k, v in config.items() if k != "_target_"}
    weight_decay = float(options.pop("weight_decay", 0.0))
    groups = parameter_groups(named_parameters, weight_decay, lr_scale)
    for group in groups:
        scale = group.pop("lr_scale")
        if scale != 1.0 and "lr" in options:
            group["lr"] = float(options["lr"]) * scale
    try:
        return get_object(config.get("_target_", "torch.optim.AdamW"))(groups, **options)
    except Exception as error:
        raise ConfigError(f"cannot build optimizer from {config}: {error}") from error


Schedule = Callable[[int], float]  # optimizer step -> learning-rate multiplier

# The schedule a config without `_target_` gets (the presets name it; checkpoints written before they did).
WARMUP_LR = "nlpzoo.models.optimization.warmup_lr"


def warmup_schedule(
    total_steps: int, warmup_steps: int | float = 0, decay: str = "cosine", min_lr_ratio: float = 0.0
) -> Schedule:
    """LR multiplier: linear warmup (steps, or a fraction of training if < 1), then cosine/linear/constant."""
    warmup = int(warmup_steps * total_steps) if 0 < warmup_steps < 1 else int(warmup_steps)
    if decay not in {"cosine", "linear", "constant"}:
        raise ConfigError(f"scheduler.decay='{decay}' is not one of: cosine, linear, constant")

    def multiplier(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if decay == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        shape = 0.5 * (1 + math.cos(math.pi * progress)) if decay == "cosine" else 1.0 - progress
        return min_lr_ratio + (1 - min_lr_ratio) * shape

    return multiplier


def warmup_lr(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int | float = 0,
    decay: str = "cosine",
    min_lr_ratio: float = 0.0,
) -> LambdaLR:
    """The presets' schedule (`_target_: nlpzoo.models.optimization.warmup_lr`): `warmup_schedule` per step."""
    return LambdaLR(optimizer, warmup_schedule(max(1, int(total_steps)), warmup_steps, decay, min_lr_ratio))


def build_scheduler(
    config: dict[str, Any], optimizer: torch.optim.Optimizer, total_steps: int | float
) -> LRScheduler | ReduceLROnPlateau:
    """`config` is a `_target_` dict (default `warmup_lr`; any torch.optim.lr_scheduler class) with its
    arguments; a target that takes `total_steps` (warmup_lr, OneCycleLR) gets the run's."""
    target = config.get("_target_", WARMUP_LR)
    options = {k: v for k, v in config.items() if k != "_target_" and k not in LIGHTNING_SCHEDULER_KEYS}
    try:
        factory = get_object(target)
    except Exception as error:
        raise ConfigError(f"scheduler._target_: cannot import '{target}' ({error})") from error
    if "total_steps" in inspect.signature(factory).parameters and options.get("total_steps") is None:
        options["total_steps"] = int(total_steps)
    try:
        return factory(optimizer, **options)
    except TypeError as error:
        raise ConfigError(f"cannot build scheduler from {config}: {error}") from error


def lightning_scheduler(
    config: dict[str, Any], optimizer: torch.optim.Optimizer, total_steps: int | float
) -> dict[str, Any]:
    """Lightning's `lr_scheduler` entry: stepped per step, except a metric-driven scheduler
    (ReduceLROnPlateau), stepped once an epoch on the run's monitored metric from the latest validation
    (`monitor`, which `training.preflight` fills in with the checkpoint's); with several validations an
    epoch it judges only the epoch's last. `interval`/`frequency` in `config` override."""
    scheduler = build_scheduler(config, optimizer, total_steps)
    entry: dict[str, Any] = {"scheduler": scheduler, "interval": "step"}
    if isinstance(scheduler, ReduceLROnPlateau):
        if not config.get("monitor"):
            raise ConfigError("scheduler ReduceLROnPlateau needs scheduler.monitor (e.g. val/acc) to step on")
        entry["interval"] = "epoch"
    entry.update({key: config[key] for key in LIGHTNING_SCHEDULER_KEYS if config.get(key)})
    return entry
