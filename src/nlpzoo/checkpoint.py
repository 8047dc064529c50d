"""Loading a model-family checkpoint safely: weights only, nlpzoo families only, with its tokenizer."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nlpzoo.errors import CheckpointError
from nlpzoo.models.base import CHECKPOINT_KEY, ZooModule
from nlpzoo.tokenizers import tokenizer_from_files


@dataclass
class LoadedCheckpoint:
    """A rebuilt module with what it was trained with."""

    module: ZooModule
    tokenizer: Any
    data_config: dict[str, Any] | None
    tokenizer_config: dict[str, Any] | None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, read with `weights_only=True` so no pickled code can run."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"cannot read checkpoint {path} safely (weights only): {error}") from error


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
    if tokenizer is not None:
        module.use_tokenizer(tokenizer)
    return LoadedCheckpoint(module, tokenizer, meta.get("data_config"), meta.get("tokenizer_config"))
