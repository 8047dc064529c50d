"""Model families: one LightningModule per family, built from a `TaskSpec` and hyper-parameters."""

from nlpzoo.models.base import ZooModule
from nlpzoo.models.decoder import PretrainedDecoder
from nlpzoo.models.encoder import PretrainedEncoder
from nlpzoo.models.encoder_decoder import PretrainedEncoderDecoder
from nlpzoo.models.pretrained import PretrainedFamily, export_checkpoint
from nlpzoo.models.recurrent import RecurrentModel
from nlpzoo.models.zero_shot import ZeroShotClassifier

__all__ = [
    "PretrainedDecoder",
    "PretrainedEncoder",
    "PretrainedEncoderDecoder",
    "PretrainedFamily",
    "RecurrentModel",
    "ZeroShotClassifier",
    "ZooModule",
    "export_checkpoint",
]
