"""Lightning's loggers, where one needs a fix to run quietly: the W&B logger, and Lightning's console handler."""

from __future__ import annotations

import logging
import sys
from typing import Any

from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger


class WandbLogger(LightningWandbLogger):
    """Lightning's W&B logger (same arguments) without the `anonymous=None` it always hands `wandb.init`:
    recent wandb (0.31 here) warns "The anonymous setting has no effect" for any value given, on every run."""

    @property
    def experiment(self) -> Any:
        self._wandb_init.pop("anonymous", None)
        return super().experiment


def quiet_lightning_logging() -> None:
    """Lightning's messages once and without its advertisement for LitLogger (printed at every Trainer).

    `import lightning` gives the `lightning` logger its own console handler: imported after an application
    configured root handlers (Hydra: the console and RUN_DIR/<job>.log; the entrypoints import Lightning
    lazily), each message would print twice, so it then goes through the root's alone.
    """
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoAdvertisement) for f in rank_zero.filters):
        rank_zero.addFilter(_NoAdvertisement())
    if not logging.getLogger().hasHandlers():
        return
    lightning_logger = logging.getLogger("lightning")
    for handler in list(lightning_logger.handlers):
        if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.stdout):
            lightning_logger.removeHandler(handler)


class _NoAdvertisement(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "try installing [litlogger]" not in record.getMessage()
