"""Task DataModules: one LightningDataModule per task kind, all exposing a `TaskSpec` after setup()."""

from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.embedding_corpus import WordEmbeddingCorpus
from nlpzoo.data.text_classification import TextClassificationData

__all__ = ["TaskDataModule", "TextClassificationData", "WordEmbeddingCorpus"]
