"""Task DataModules: one LightningDataModule per task kind, all exposing a `TaskSpec` after setup()."""

from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.embedding_corpus import WordEmbeddingCorpus
from nlpzoo.data.language_modeling import LanguageModelingData, MaskedLanguageModelingData
from nlpzoo.data.question_answering import QuestionAnsweringData
from nlpzoo.data.sentence_pairs import NliData, SentenceSimilarityData
from nlpzoo.data.seq2seq import Seq2SeqData
from nlpzoo.data.text_classification import TextClassificationData
from nlpzoo.data.token_classification import TokenClassificationData

__all__ = [
    "LanguageModelingData",
    "MaskedLanguageModelingData",
    "NliData",
    "QuestionAnsweringData",
    "SentenceSimilarityData",
    "Seq2SeqData",
    "TaskDataModule",
    "TextClassificationData",
    "TokenClassificationData",
    "WordEmbeddingCorpus",
]
