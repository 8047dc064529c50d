"""Task DataModules: one LightningDataModule per task kind, all exposing a `TaskSpec` after setup()."""

from nlpzoo.lazy import lazy_attributes

_LOCATIONS = {
    "TaskDataModule": "base",
    "WordEmbeddingCorpus": "embedding_corpus",
    "LanguageModelingData": "language_modeling",
    "MaskedLanguageModelingData": "language_modeling",
    "PreferenceData": "preference",
    "QuestionAnsweringData": "question_answering",
    "NliData": "sentence_pairs",
    "SentenceSimilarityData": "sentence_pairs",
    "Seq2SeqData": "seq2seq",
    "TextClassificationData": "text_classification",
    "TokenClassificationData": "token_classification",
}
__all__ = sorted(_LOCATIONS)
__getattr__ = lazy_attributes(__name__, _LOCATIONS)
