"""Loading a model-family checkpoint safely: weights only, nlpzoo families only, with its tokenizer."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpzoo.checkpoint_io import load_weights_only
from nlpzoo.errors import CheckpointError
from nlpzoo.models.base import CHECKPOINT_KEY, ZooModule
from nlpzoo.tokenizers import tokenizer_from_files

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass
class LoadedCheckpoint:
    """A rebuilt module with what it was trained with."""

    module: ZooModule
    tokenizer: PreTrainedTokenizerBase | None
    data_config: dict[str, Any] | None
    tokenizer_config: dict[str, Any] | None
    target_tokenizer: PreTrainedTokenizerBase | None = None  # seq2seq with a separate target vocabulary


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, read with `weights_only=True` so no pickled code can run."""
    return load_weights_only(path, map_location="cpu")


def family_class(name: str) -> type[ZooModule]:
    """Import a family class by dotted name, allowing only nlpzoo's own model modules."""
    module_name, _, class_name = name.rpartition(".")
    if not module_name.startswith("nlpzoo.models."):
        raise CheckpointError(f"checkpoint names family class '{name}', which is not an nlpzoo model family")
    klass = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(klass, type) and issubclass(klass, ZooModule)):
        raise CheckpointError(f"'{name}' is not an nlpzoo model family")
    return klass


def load_module(path: str | Path) -> LoadedCheckpoint:
    """Rebuild the LightningModule, its tokenizer and its data config from an nlpzoo checkpoint."""
    checkpoint = read_checkpoint(path)
    meta = checkpoint.get(CHECKPOINT_KEY)
    if not meta:
        raise CheckpointError(f"{path} is not an nlpzoo checkpoint (no '{CHECKPOINT_KEY}' section)")
    klass = family_class(meta["family_class"])
    module = klass(**checkpoint["hyper_parameters"])
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    tokenizer = tokenizer_from_files(meta["tokenizer"]) if meta.get("tokenizer") else None
    target = tokenizer_from_files(meta["target_tokenizer"]) if meta.get("target_tokenizer") else None
    decoding = target or tokenizer  # generations are decoded with the target side's
    if decoding:
        module.use_tokenizer(decoding)
    return LoadedCheckpoint(module, tokenizer, meta.get("data_config"), meta.get("tokenizer_config"), target)


def resume_metadata(path: str | Path, family: type[ZooModule], task_kind: str) -> dict[str, Any]:
    """The nlpzoo section of a checkpoint to resume, refused when it was trained as another family or task."""
    checkpoint = read_checkpoint(path)
    meta = checkpoint.get(CHECKPOINT_KEY)
    if not meta:
        raise CheckpointError(
            f"{path} is not an nlpzoo checkpoint (no '{CHECKPOINT_KEY}' section); cannot resume"
        )
    expected = f"{family.__module__}.{family.__qualname__}"
    if meta.get("family_class") != expected:
        raise CheckpointError(
            f"cannot resume from {path}: it holds a '{meta.get('family_class')}' model, this run builds "
            f"'{expected}'; choose the model it was trained with or start without ckpt_path"
        )
    trained_kind = (meta.get("spec") or {}).get("kind")
    if trained_kind != str(task_kind):
        raise CheckpointError(
            f"cannot resume from {path}: it was trained for task '{trained_kind}', this run's data is "
            f"'{task_kind}'; choose the data config it was trained with or start without ckpt_path"
        )
    return meta
