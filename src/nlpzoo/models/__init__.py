"""Model families: one LightningModule per family, built from a `TaskSpec` and hyper-parameters."""

from nlpzoo.models.base import ZooModule
from nlpzoo.models.gpt import GPTModel
from nlpzoo.models.recurrent import RecurrentModel
from nlpzoo.models.seq2seq import Seq2SeqModel
from nlpzoo.models.transformer_encoder import TransformerEncoderModel
from nlpzoo.models.transformer_seq2seq import TransformerSeq2SeqModel

__all__ = [
    "GPTModel",
    "RecurrentModel",
    "Seq2SeqModel",
    "TransformerEncoderModel",
    "TransformerSeq2SeqModel",
    "ZooModule",
]
