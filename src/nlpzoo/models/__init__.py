"""Model families: one LightningModule per family, built from a `TaskSpec` and hyper-parameters."""

from nlpzoo.models.base import ZooModule
from nlpzoo.models.fasttext import FastText
from nlpzoo.models.glove import GloVe
from nlpzoo.models.recurrent import RecurrentModel
from nlpzoo.models.word2vec import Word2Vec

__all__ = ["FastText", "GloVe", "RecurrentModel", "Word2Vec", "ZooModule"]
