"""Model families: one LightningModule per family, built from a `TaskSpec` and hyper-parameters."""

from nlpzoo.models.base import ZooModule
from nlpzoo.models.decoder import PretrainedDecoder
from nlpzoo.models.encoder import PretrainedEncoder
from nlpzoo.models.encoder_decoder import PretrainedEncoderDecoder
from nlpzoo.models.fasttext import FastText
from nlpzoo.models.glove import GloVe
from nlpzoo.models.gpt import GPTModel
from nlpzoo.models.pretrained import PretrainedFamily, export_checkpoint
from nlpzoo.models.recurrent import RecurrentModel
from nlpzoo.models.seq2seq import Seq2SeqModel
from nlpzoo.models.transformer_encoder import TransformerEncoderModel
from nlpzoo.models.transformer_seq2seq import TransformerSeq2SeqModel
from nlpzoo.models.word2vec import Word2Vec
from nlpzoo.models.zero_shot import ZeroShotClassifier

__all__ = [
    "FastText",
    "GPTModel",
    "GloVe",
    "PretrainedDecoder",
    "PretrainedEncoder",
    "PretrainedEncoderDecoder",
    "PretrainedFamily",
    "RecurrentModel",
    "Seq2SeqModel",
    "TransformerEncoderModel",
    "TransformerSeq2SeqModel",
    "Word2Vec",
    "ZeroShotClassifier",
    "ZooModule",
    "export_checkpoint",
]
