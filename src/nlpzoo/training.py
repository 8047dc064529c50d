"""The recipe behind `train.py`: config -> DataModule -> TaskSpec -> model -> Trainer -> fit, test, summary."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import hydra
import lightning as L
import torch
from hydra.utils import get_object
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from nlpzoo.callbacks import ThroughputMeter
from nlpzoo.callbacks.fault_tolerance import (
    PREEMPTED_EXIT_CODE,
    PreemptionAfterFit,
    exit_code_on_preemption,
)
from nlpzoo.checkpoint import resume_metadata
from nlpzoo.config import validate_config
from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.streaming import require_max_steps
from nlpzoo.errors import ConfigError
from nlpzoo.hardware import describe_hardware
from nlpzoo.models.base import ZooModule
from nlpzoo.optional import require
from nlpzoo.tasks import OBJECTIVES
from nlpzoo.tokenizers import tokenizer_from_files, tokenizer_to_files

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)


def build_datamodule(cfg: DictConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> TaskDataModule:
    """Instantiate the task DataModule with the configured tokenizer recipe (or a ready tokenizer)."""
    recipe = hydra.utils.instantiate(cfg.tokenizer) if cfg.get("tokenizer") else None
    datamodule = hydra.utils.instantiate(cfg.data, tokenizer=recipe, _convert_="all")
    if tokenizer is not None:
        datamodule.use_tokenizer(tokenizer)
    return datamodule


def build_model(cfg: DictConfig, datamodule: TaskDataModule) -> ZooModule:
    """The model family from `cfg.model`, built from the DataModule's TaskSpec (never hand-copied sizes)."""
    options = cast(dict[str, Any], OmegaConf.to_container(cfg.model, resolve=True))
    family = get_object(options.pop("_target_"))
    # Called with plain values, not instantiate(cfg.model, spec=...): Hydra would wrap the spec (a word
    # corpus's whole vocabulary) in config nodes, and Lightning compares config nodes with the
    # hyper-parameters: about a minute before text8_glove's first step.
    model = family(spec=datamodule.spec, **options)
    # A separate target-side tokenizer (seq2seq), when the DataModule has one, decodes generations.
    target = getattr(datamodule, "target_tokenizer", None)
    model.use_tokenizer(target or datamodule.tokenizer)
    model.checkpoint_extras = {
        "tokenizer": tokenizer_to_files(datamodule.tokenizer),
        # A separate target-side vocabulary (seq2seq) travels too, so evaluation on other data reuses it.
        **(
            {"target_tokenizer": tokenizer_to_files(target)}
            if target is not None and target is not datamodule.tokenizer
            else {}
        ),
        "data_config": OmegaConf.to_container(cfg.data, resolve=True),
        "tokenizer_config": OmegaConf.to_container(cfg.tokenizer, resolve=True)
        if cfg.get("tokenizer")
        else None,
    }
    return model


def preflight(cfg: DictConfig) -> None:
    """Everything that can be checked before any data is read: model x task, monitor, config keys."""
    data_class = get_object(cfg.data._target_)
    model_class = get_object(cfg.model._target_)
    kind = data_class.task_kind
    model_class.check_supported(kind)
    model_class.check_seq2seq_format(kind, cfg.data.get("prompt"))
    if cfg.data.get("packing") and not getattr(model_class, "packs_sequences", False):
        raise ConfigError(
            f"data.packing=true: model family '{model_class.family}' cannot keep each packed example to itself "
            "(no mask of its attention or state); use model=gpt or a pretrained decoder (gpt2, llama, ...)"
        )
    model_class.check_config(cfg)  # first: a family may fit the tokenizer to itself (from_config)
    check_tokenizer_named(cfg)
    objective = OBJECTIVES.get(kind)
    with open_dict(cfg):
        if not cfg.get("monitor"):
            cfg.monitor = f"val/{objective.monitor}" if objective else "val/loss"
        if not cfg.get("monitor_mode"):
            cfg.monitor_mode = objective.mode if objective else "min"
        scheduler = cfg.model.get("scheduler")
        if scheduler and str(scheduler.get("_target_", "")).endswith("ReduceLROnPlateau"):
            # A plateau is judged on the metric that picks the best checkpoint, in its direction.
            resolved = OmegaConf.to_container(scheduler, resolve=True)
            cfg.model.scheduler = {"monitor": cfg.monitor, "mode": cfg.monitor_mode, **resolved}  # type: ignore[dict-item]
    validate_config(cfg)
    threads = cfg.get("threads") or 0
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
        raise ConfigError(f"threads={threads!r} must be a whole number >= 0 (0: PyTorch's default)")
    if cfg.data.get("streaming"):
        require_max_steps(cfg.trainer.get("max_steps"))
        interval = cfg.trainer.get("val_check_interval")
        if not isinstance(interval, int) or isinstance(interval, bool):
            # A fraction of an epoch means nothing for a stream: validate once, after the last step.
            with open_dict(cfg):
                cfg.trainer.val_check_interval = cfg.trainer.max_steps * cfg.trainer.get(
                    "accumulate_grad_batches", 1
                )
            log.info("data.streaming=true: validating every %d batches", cfg.trainer.val_check_interval)
    loggers = [node for node in (cfg.get("logger") or {}).values() if isinstance(node, DictConfig)]
    if any(str(node.get("_target_")).endswith("MLFlowLogger") for node in loggers):
        require("mlflow")  # Lightning's logger imports it only when built, after the data is read


def check_tokenizer_named(cfg: DictConfig) -> None:
    """A pretrained tokenizer takes its name from a pretrained model family; any other run must give one."""
    tokenizer = cfg.get("tokenizer")
    if (
        tokenizer
        and str(tokenizer.get("_target_", "")).endswith("PretrainedTokenizer")
        and not tokenizer.get("name_or_path")
    ):
        raise ConfigError(
            "tokenizer=pretrained needs tokenizer.name_or_path=NAME_OR_DIR (a hub name or a local folder); "
            "a model built from a config alone (model.from_config=true) trains with any tokenizer, e.g. tokenizer=word"
        )


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate each `_target_` entry of a callbacks/logger group (entries set to null are skipped)."""
    if not group:
        return []
    entries = [group[key] for key in group if not OmegaConf.is_missing(group, key)]
    return [
        hydra.utils.instantiate(entry)
        for entry in entries
        if isinstance(entry, DictConfig) and "_target_" in entry
    ]


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`last` means the last checkpoint of the run directory being resumed."""
    if not ckpt_path:
        return None
    if ckpt_path == "auto":
        candidate = output_dir / "checkpoints" / "last.ckpt"
        log.info(
            "ckpt_path=auto: %s", f"resuming from {candidate}" if candidate.is_file() else "starting fresh"
        )
        return str(candidate) if candidate.is_file() else None
    if ckpt_path == "last":
        candidate = output_dir / "checkpoints" / "last.ckpt"
        if not candidate.is_file():
            raise ConfigError(
                f"ckpt_path=last but {candidate} does not exist; resume with hydra.run.dir=THE_RUN_DIR ckpt_path=last"
            )
        return str(candidate)
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: no such file")
    return ckpt_path


def tokenizer_of_checkpoint(path: str, cfg: DictConfig) -> PreTrainedTokenizerBase | None:
    """The tokenizer a checkpoint was trained with, after checking it fits this run's family and task."""
    meta = resume_metadata(path, get_object(cfg.model._target_), get_object(cfg.data._target_).task_kind)
    return tokenizer_from_files(meta["tokenizer"]) if meta.get("tokenizer") else None


def prepare_ddp_relaunch(cfg: DictConfig) -> None:
    """Let Lightning's DDP launcher re-run this job, not the whole sweep, inside a multirun.

    Lightning re-executes `sys.argv` with `hydra.run.dir=<run.dir>`; under `-m` that would start
    the sweep again. We give it this job's own overrides and output directory instead.
    """
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    hydra_cfg = cast(DictConfig, HydraConfig.get())  # a HydraConf node
    if hydra_cfg.mode is None or str(hydra_cfg.mode) != "RunMode.MULTIRUN":
        return
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir


def run_training(cfg: DictConfig) -> dict[str, Any]:
    """Train, validate and test the configured model on the configured data; return the run summary."""
    started = time.time()
    preflight(cfg)
    output_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir)

    datamodule = build_datamodule(cfg, tokenizer_of_checkpoint(ckpt_path, cfg) if ckpt_path else None)
    datamodule.setup("fit")
    model = build_model(cfg, datamodule)
    if cfg.get("distillation") and cfg.distillation.get("teacher"):
        from nlpzoo.distillation import attach_teacher

        attach_teacher(
            model, datamodule, cast(dict[str, Any], OmegaConf.to_container(cfg.distillation, resolve=True))
        )

    throughput, preemption = ThroughputMeter(), PreemptionAfterFit()
    callbacks = [*instantiate_group(cfg.get("callbacks")), throughput, preemption]
    loggers = instantiate_group(cfg.get("logger"))
    prepare_ddp_relaunch(cfg)
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    resolved = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    cleaning = datamodule.cleaning.counts() if datamodule.cleaning is not None else {}
    for logger in loggers:
        logger.log_hyperparams({**resolved, **({"cleaning_report": cleaning} if cleaning else {})})
    if trainer.is_global_zero:
        datamodule.tokenizer.save_pretrained(str(output_dir / "tokenizer"))

    metrics: dict[str, float] = test_zero_shot(cfg, model, datamodule) if cfg.get("zero_shot") else {}
    with preemption.listening():  # SIGTERM from here on stops the run and leaves a (partial) summary
        with exit_code_on_preemption():
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        callbacks_run = trainer.callbacks  # type: ignore[attr-defined]  # Lightning's connectors set it at run time
        checkpoint = next((c for c in callbacks_run if isinstance(c, ModelCheckpoint) and c.monitor), None)
        best = checkpoint.best_model_path if checkpoint and checkpoint.best_model_path else None
        last_validation = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        validate = partial(trainer.validate, model, datamodule=datamodule, ckpt_path=best, verbose=False)
        validated = preemption.run("validate", validate) if cfg.get("validate_best", True) and best else []
        metrics.update(_floats(validated) if validated else last_validation)
        if cfg.get("test", True):
            test = partial(trainer.test, model, datamodule=datamodule, ckpt_path=best, verbose=False)
            metrics.update(_floats(preemption.run("test", test)))

        summary = {
            "metrics": metrics,
            # partial: SIGTERM stopped the run in `interrupted` ("validate" or "test"); metrics hold what finished
            "partial": preemption.interrupted is not None,
            "interrupted": preemption.interrupted,
            "monitor": cfg.monitor,
            "best_model_score": float(cast(torch.Tensor, checkpoint.best_model_score))
            if checkpoint and best
            else None,
            "best_checkpoint": best,
            "last_checkpoint": str(output_dir / "checkpoints" / "last.ckpt") if best else None,
            "epochs": trainer.current_epoch,
            "global_steps": trainer.global_step,
            "wall_seconds": time.time() - started,
            "throughput": throughput.summary(),
            **datamodule.padding_report(),
            **({"cleaning": cleaning} if cleaning else {}),
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "num_trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "hardware": describe_hardware(trainer),
            "output_dir": str(output_dir),
            "config": resolved,
        }
        write_summary(summary, output_dir)
    if preemption.interrupted:
        raise SystemExit(PREEMPTED_EXIT_CODE)  # as a preempted fit: the scheduler sees the run did not finish
    return summary


def test_zero_shot(cfg: DictConfig, model: ZooModule, datamodule: TaskDataModule) -> dict[str, float]:
    """The test split's metrics of the model as built, before any training (a pretrained model prompted
    zero-shot; adapters switched off), as `zero_shot/test/...`: the baseline the tuned model is compared with."""
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, logger=False, callbacks=[])
    with model.without_adapter():
        results = trainer.test(model, dataloaders=datamodule.test_dataloader(), verbose=False)
    return {f"zero_shot/{name}": value for name, value in _floats(results).items()}


def _floats(results: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    return {k: float(v) for result in results for k, v in result.items()}


@rank_zero_only
def write_summary(summary: dict[str, Any], output_dir: Path) -> None:
    """summary.json in the run directory, and where to find it."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in sorted(summary["metrics"].items()))
    print(f"\n{metrics}\nrun directory: {output_dir}\nsummary: {path}")
