"""Callback and logger groups: each `_target_` entry is built; null, unset and target-less entries are skipped."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from omegaconf import OmegaConf

from nlpzoo.training import instantiate_group, preflight
from tests.conftest import compose_config


def test_a_group_builds_its_target_entries_only() -> None:
    cfg = OmegaConf.create(
        {
            "monitor": "val/acc",
            "callbacks": {
                "early_stopping": {
                    "_target_": "lightning.pytorch.callbacks.EarlyStopping",
                    "monitor": "${monitor}",
                },
                "switched_off": None,
                "not_yet_set": "???",
                "notes": {"why": "no _target_"},
            },
        }
    )
    (built,) = instantiate_group(cfg.callbacks)
    assert isinstance(built, EarlyStopping) and built.monitor == "val/acc"  # interpolations resolve
    assert instantiate_group(None) == []


def test_callbacks_set_to_null_on_the_command_line_are_not_built(tmp_path: Path) -> None:
    cfg = compose_config(["callbacks.rich_progress_bar=null"], tmp_path)
    preflight(cfg)  # as run_training: sets the monitored metric and its mode
    built = instantiate_group(cfg.callbacks)
    assert any(isinstance(b, ModelCheckpoint) for b in built)
    assert not any(isinstance(b, RichProgressBar) for b in built)
