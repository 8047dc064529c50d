"""The recipe behind `eval.py`: a checkpoint evaluated on a split of its own or another compatible data config."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from nlpzoo.checkpoint import load_module
from nlpzoo.config import validate_config
from nlpzoo.errors import ConfigError

EVAL_SPLITS = ("validation", "test")


def run_evaluation(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate `cfg.ckpt_path` on `cfg.split`; the data config defaults to the one it was trained with."""
    started = time.time()
    if not cfg.get("ckpt_path"):
        raise ConfigError("eval.py needs ckpt_path=PATH_TO_CHECKPOINT")
    if cfg.split not in EVAL_SPLITS:
        raise ConfigError(f"split={cfg.split} is not one of {EVAL_SPLITS}")
    validate_config(cfg)
    loaded = load_module(cfg.ckpt_path)
    data_cfg = cfg.get("data") or OmegaConf.create(loaded.data_config)
    if not data_cfg:
        raise ConfigError("the checkpoint has no data config: give one with data=NAME")
    datamodule = hydra.utils.instantiate(data_cfg, tokenizer=None, _convert_="all")
    datamodule.use_tokenizer(loaded.tokenizer)
    datamodule.setup("test")
    loaded.module.check_supported(datamodule.spec.kind)
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, logger=False)
    loader = datamodule.val_dataloader() if cfg.split == "validation" else datamodule.test_dataloader()
    method = trainer.validate if cfg.split == "validation" else trainer.test
    results = method(loaded.module, dataloaders=loader, verbose=True)
    summary = {
        "checkpoint": str(cfg.ckpt_path),
        "split": cfg.split,
        "metrics": {k: float(v) for r in results for k, v in r.items()},
        "examples": len(datamodule.splits[cfg.split]),
        "wall_seconds": time.time() - started,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_eval_summary(summary, Path(cfg.paths.output_dir))
    return summary


@rank_zero_only
def write_eval_summary(summary: dict[str, Any], output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"{summary['metrics']}\nsummary: {output_dir / 'summary.json'}")
