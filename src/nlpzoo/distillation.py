"""Wiring a teacher into a training run: its logits over the training texts, cached, as a batch key."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from rich.progress import track

import nlpzoo
from nlpzoo.checkpoint import read_checkpoint
from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.text_classification import TextClassificationData
from nlpzoo.errors import ConfigError, DataError
from nlpzoo.models.base import CHECKPOINT_KEY, ZooModule
from nlpzoo.prediction import Predictor
from nlpzoo.tasks import TaskKind
from nlpzoo.tasks.distillation import TEACHER_KEY, DistillationObjective

log = logging.getLogger(__name__)


def training_texts_in_order(datamodule: TaskDataModule) -> list[str]:
    """The raw texts behind `datamodule.splits['train']`, row for row (checked by re-tokenizing)."""
    if getattr(datamodule, "text_pair_column", None):
        raise ConfigError("distillation supports single-text classification; this data has text pairs")
    raw = datamodule.load_raw_splits()["train"]
    label_column = cast(TextClassificationData, datamodule).label_column  # checked by attach_teacher
    raw = raw.filter(lambda row: row[label_column] not in (None, -1))  # as encode_splits does
    texts = datamodule.training_texts(raw)
    encoded = datamodule.splits["train"]["input_ids"]
    again = datamodule.tokenizer(texts, truncation=True, max_length=datamodule.max_length)["input_ids"]
    if len(texts) != len(encoded) or any(a != b for a, b in zip(again, encoded, strict=False)):
        raise DataError("cannot line up the raw training texts with the tokenized training split")
    return texts


@torch.inference_mode()
def teacher_logits(teacher: Predictor, texts: list[str], batch_size: int) -> np.ndarray:
    """(texts, num_labels) logits; texts are batched by length so little time goes to padding."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    logits = np.zeros((len(texts), teacher.module.spec.num_labels), dtype=np.float32)
    for start in track(range(0, len(texts), batch_size), description="teacher labelling the training texts"):
        chosen = order[start : start + batch_size]
        outputs = teacher.model_forward(teacher.encode([texts[i] for i in chosen]))
        logits[chosen] = outputs["logits"].float().cpu().numpy()
    return logits


def cached_teacher_logits(
    teacher_path: str, texts: list[str], cache_dir: str | None, batch_size: int
) -> np.ndarray:
    """Teacher logits, read from `cache_dir` when this teacher already labelled these exact texts."""
    stat = Path(teacher_path).stat()
    key = hashlib.sha256(
        json.dumps([str(Path(teacher_path).resolve()), stat.st_size, stat.st_mtime_ns, texts]).encode()
    )
    path = Path(cache_dir) / f"teacher_logits_{key.hexdigest()[:20]}.npy" if cache_dir else None
    if path is not None and path.is_file():
        log.info("teacher logits from cache %s", path)
        return np.load(path)
    teacher = nlpzoo.load(teacher_path)
    logits = teacher_logits(teacher, texts, batch_size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, logits)
    return logits


def attach_teacher(model: ZooModule, datamodule: TaskDataModule, config: dict[str, Any]) -> None:
    """Give every training example its teacher logits and train `model` with the distillation loss."""
    if model.spec.kind is not TaskKind.TEXT_CLASSIFICATION:
        raise ConfigError(f"distillation is implemented for text_classification, not {model.spec.kind}")
    teacher_path = str(config["teacher"])
    meta = read_checkpoint(teacher_path).get(CHECKPOINT_KEY) or {}
    teacher_labels = (meta.get("spec") or {}).get("label_names")
    if teacher_labels != model.spec.label_names:
        raise ConfigError(
            f"teacher {teacher_path} has labels {teacher_labels}; the student has {model.spec.label_names}"
        )
    texts = training_texts_in_order(datamodule)
    logits = cached_teacher_logits(
        teacher_path, texts, config.get("cache_dir"), int(config.get("batch_size", 64))
    )
    agreement = float(np.mean(logits.argmax(-1) == np.asarray(datamodule.splits["train"]["labels"])))
    log.info("teacher %s agrees with %.3f of the gold training labels", teacher_path, agreement)
    datamodule.splits["train"] = datamodule.splits["train"].add_column(TEACHER_KEY, logits.tolist())
    model.objective = DistillationObjective(
        model.objective, float(config["temperature"]), float(config["alpha"])
    )
