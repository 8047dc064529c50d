"""Model families: one LightningModule per family, built from a `TaskSpec` and hyper-parameters."""

from nlpzoo.models.base import ZooModule
from nlpzoo.models.recurrent import RecurrentModel

__all__ = ["RecurrentModel", "ZooModule"]
