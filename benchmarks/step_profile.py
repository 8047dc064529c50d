"""Where a recipe's training step goes: data (collation), forward, backward, optimizer, and one validation pass.

Builds the experiment's DataModule and model exactly as `train.py` does, runs a few hundred training
steps by hand and reports each phase's CPU time per step (process time, so other jobs on a shared
machine inflate it less than wall time), with the padding share of the training batches.

    python benchmarks/step_profile.py experiment=sst2_lstm data.path=../shared/data/sst2 --steps 200
    python benchmarks/step_profile.py experiment=conll_bilstm_crf --threads 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

import nlpzoo.config  # noqa: F401  (registers config resolvers)
from nlpzoo.models.optimization import build_optimizer
from nlpzoo.training import build_datamodule, build_model

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("data", "forward", "backward", "optimizer")


def profile_steps(overrides: list[str], steps: int, warmup: int = 5) -> dict[str, Any]:
    """Milliseconds of CPU time per training step and phase, and seconds of one validation pass."""
    GlobalHydra.instance().clear()  # a caller's composition (tests) may still be registered
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    model = build_model(cfg, datamodule)
    optimizer = build_optimizer(model.optimizer_config, model.named_parameters())
    clip = cfg.trainer.get("gradient_clip_val")
    totals = dict.fromkeys(PHASES, 0.0)
    clock = time.process_time
    model.train()
    batches, done = iter(datamodule.train_dataloader()), 0
    while done < steps + warmup:
        start = clock()
        batch = next(batches, None)
        if batch is None:  # a short epoch: start the next one
            batches = iter(datamodule.train_dataloader())
            continue
        loaded = clock()
        loss = model.objective.loss(model(batch), batch)
        forward = clock()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        backward = clock()
        optimizer.step()
        optimizer.zero_grad()
        stepped = clock()
        if done >= warmup:
            for phase, seconds in zip(
                PHASES,
                (loaded - start, forward - loaded, backward - forward, stepped - backward),
                strict=True,
            ):
                totals[phase] += seconds
        done += 1
    model.eval()
    start = clock()
    with torch.no_grad():
        for batch in datamodule.val_dataloader():
            model.objective.update_metrics(model.val_metrics, model(batch), batch)
    validation = clock() - start
    per_step = {phase: round(1000 * seconds / steps, 2) for phase, seconds in totals.items()}
    steps_per_epoch = len(datamodule.train_dataloader())
    return {
        "ms_per_step": per_step,
        "steps_per_epoch": steps_per_epoch,
        "epoch_seconds": round(sum(per_step.values()) * steps_per_epoch / 1000 + validation, 1),
        "validation_seconds": round(validation, 2),
        "padding_fraction": round(datamodule.padding_fraction("train"), 3),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="train.py overrides, e.g. experiment=sst2_lstm")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads (1: least noise when shared)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(profile_steps(args.overrides, args.steps), indent=2))


if __name__ == "__main__":
    main()
