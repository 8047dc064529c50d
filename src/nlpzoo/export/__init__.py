"""Exporting trained models to formats other tools read."""

from nlpzoo.export.word2vec_format import load_word2vec_format, save_word2vec_format

__all__ = ["load_word2vec_format", "save_word2vec_format"]
