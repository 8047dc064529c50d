"""The recipe behind `eval.py`: a checkpoint evaluated on a split of its own or another compatible data config."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import hydra
import lightning as L
from hydra.utils import get_object
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from nlpzoo.checkpoint import load_module
from nlpzoo.config import validate_config
from nlpzoo.data.sources import SPLITS
from nlpzoo.errors import ConfigError, DataError, UnsupportedTaskError
from nlpzoo.hardware import describe_hardware
from nlpzoo.models.base import ZooModule
from nlpzoo.prediction import find_checkpoint
from nlpzoo.tasks import TaskKind, TaskSpec
from nlpzoo.training import instantiate_group


def run_evaluation(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate `cfg.ckpt_path` (a checkpoint or run directory) on `cfg.split` of the data config."""
    started = time.time()
    if not cfg.get("ckpt_path") and cfg.get("model"):
        return evaluate_pretrained(cfg)
    if not cfg.get("ckpt_path"):
        raise ConfigError(
            "eval.py needs ckpt_path=PATH_TO_CHECKPOINT_OR_RUN_DIR (or model=NAME: a pretrained model as it is)"
        )
    if cfg.split not in SPLITS:
        raise ConfigError(f"split={cfg.split} is not one of {list(SPLITS)}")
    validate_config(cfg)
    checkpoint = find_checkpoint(cfg.ckpt_path)
    loaded = load_module(checkpoint)
    data_cfg = evaluation_data_config(cfg.get("data"), loaded.data_config)
    check_task_kind(
        loaded.module, get_object(data_cfg._target_).task_kind, data_cfg._target_
    )  # before reading data
    datamodule = hydra.utils.instantiate(data_cfg, tokenizer=None, _convert_="all")
    datamodule.use_tokenizer(loaded.tokenizer)
    if (
        loaded.target_tokenizer is not None
    ):  # the checkpoint's target vocabulary, not one trained on this data
        datamodule.target_tokenizer = loaded.target_tokenizer
    datamodule.setup("test")
    check_labels(loaded.module.spec, datamodule.spec)

    callbacks = instantiate_group(cfg.get("callbacks"))
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, logger=False, callbacks=callbacks)
    method = trainer.validate if cfg.split == "validation" else trainer.test
    results = method(loaded.module, dataloaders=datamodule.split_dataloader(cfg.split), verbose=True)
    metrics = {k: float(v) for r in results for k, v in r.items()}
    if cfg.split == "train":  # measured by the test loop; named after the split it read
        metrics = {k.replace("test/", "train/", 1): v for k, v in metrics.items()}
    limit = data_cfg.get(SAMPLE_LIMITS[cfg.split])
    summary = {
        "checkpoint": str(checkpoint),
        "split": cfg.split,
        "data": datamodule.split_sources.get(cfg.split),
        "metrics": metrics,
        "examples": len(datamodule.splits[cfg.split]),
        # null: the whole split; else the data.max_*_samples this eval command was given
        "max_samples": limit,
        "wall_seconds": time.time() - started,
        "hardware": describe_hardware(trainer),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_eval_summary(summary, Path(cfg.paths.output_dir))
    return summary


# The training run's slices: a checkpoint is evaluated on whole splits unless the eval command line limits them.
SAMPLE_LIMITS = {"train": "max_train_samples", "validation": "max_val_samples", "test": "max_test_samples"}


def evaluate_pretrained(cfg: DictConfig) -> dict[str, Any]:
    """`eval.py model=smollm2 data=wikitext2`: a pretrained model as it is, before any fine-tuning of ours."""
    from nlpzoo.training import build_datamodule, build_model, preflight

    started = time.time()
    if "_target_" not in (cfg.get("data") or {}):  # data.KEY=VALUE alone patches a checkpoint's data config
        raise ConfigError("evaluating model=NAME without a checkpoint needs data=NAME (and data.path=...)")
    preflight(cfg)
    datamodule = build_datamodule(cfg)
    datamodule.setup("test")
    module = build_model(cfg, datamodule)
    module.eval()
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer, logger=False, callbacks=instantiate_group(cfg.get("callbacks"))
    )
    method = trainer.validate if cfg.split == "validation" else trainer.test
    results = method(module, dataloaders=datamodule.split_dataloader(cfg.split), verbose=True)
    summary = {
        "checkpoint": None,
        "model": OmegaConf.select(cfg, "model.pretrained"),
        "split": cfg.split,
        "data": datamodule.split_sources.get(cfg.split),
        "metrics": {k.replace("test/", f"{cfg.split}/", 1): float(v) for r in results for k, v in r.items()},
        "examples": len(datamodule.splits[cfg.split]),
        "max_samples": cfg.data.get(SAMPLE_LIMITS[cfg.split]),
        "wall_seconds": time.time() - started,
        "hardware": describe_hardware(trainer),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_eval_summary(summary, Path(cfg.paths.output_dir))
    return summary


def evaluation_data_config(given: DictConfig | None, stored: dict[str, Any] | None) -> DictConfig:
    """The data to evaluate on: `data=NAME` replaces the checkpoint's data config, `data.KEY=VALUE` patches it.

    The stored config's sample limits are dropped (they sliced the training run's splits); a single
    file given as `data.path` (a user's TSV, say) stands for every split, so it is read whole.
    """
    patch = cast(dict[str, Any], OmegaConf.to_container(given, resolve=True)) if given else {}
    if "_target_" in patch:
        data = OmegaConf.create(patch)
    elif stored:
        unlimited = {key: None for key in SAMPLE_LIMITS.values() if key in stored}
        data = cast(DictConfig, OmegaConf.merge(OmegaConf.create(stored), unlimited, patch))
    else:
        raise ConfigError("the checkpoint has no data config: choose one with data=NAME (and data.path=...)")
    # only a file given on this command: the training run's own file had its splits carved from it
    path = Path(str(patch.get("path") or "")).expanduser()
    if patch.get("path") and path.is_file() and not data.get("split_column"):
        with open_dict(data):
            data.path = str(path.parent)
            data.files = dict.fromkeys(SPLITS, path.name)
            data.max_train_samples = data.max_val_samples = data.max_test_samples = None
    if data.get("cleaning") and not (patch.get("cleaning") or {}).get("report_path"):
        with open_dict(
            data
        ):  # cleaning runs again (same repairs); the training run's report stays as written
            data.cleaning.report_path = None
    validate_config(data, "data")  # a mistyped data.KEY fails here, naming it, before anything is read
    return data


def check_task_kind(module: ZooModule, kind: TaskKind, data_target: str) -> None:
    """The family's own message when it cannot serve the data's task; then the checkpoint's head must match."""
    module.check_supported(kind)
    if kind != module.spec.kind:
        raise UnsupportedTaskError(
            f"the checkpoint was trained for '{module.spec.kind.value}' but {data_target} is '{kind.value}': "
            f"evaluate it on {module.spec.kind.value} data"
        )


def check_labels(trained: TaskSpec, data: TaskSpec) -> None:
    """Label ids mean the same thing only when the label names match, in order."""
    if trained.label_names and data.label_names != trained.label_names:
        raise DataError(
            f"the data's labels {data.label_names} are not the checkpoint's {trained.label_names}; "
            "set data.label_names (and the label column) so the ids mean the same labels"
        )


@rank_zero_only
def write_eval_summary(summary: dict[str, Any], output_dir: Path) -> None:
    """summary.json, and a line saying what was evaluated: how many examples of which split and source."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    limited = (
        f", limited by data.{SAMPLE_LIMITS[summary['split']]}={summary['max_samples']}"
        if summary["max_samples"]
        else ""
    )
    print(
        f"evaluated {summary['examples']} examples of the {summary['split']} split ({summary['data']}{limited})\n"
        f"{summary['metrics']}\nsummary: {output_dir / 'summary.json'}"
    )
