"""Tokenizers: word, char (and subword, pretrained) recipes that all yield a `PreTrainedTokenizerFast`."""

from nlpzoo.tokenizers.base import (
    SPECIAL_TOKENS,
    TokenizerRecipe,
    tokenizer_from_files,
    tokenizer_to_files,
    wrap_backend,
)
from nlpzoo.tokenizers.pretrained import PretrainedTokenizer
from nlpzoo.tokenizers.subword import BpeTokenizer, UnigramTokenizer, WordPieceTokenizer
from nlpzoo.tokenizers.word import CharTokenizer, WordTokenizer

__all__ = [
    "SPECIAL_TOKENS",
    "BpeTokenizer",
    "CharTokenizer",
    "PretrainedTokenizer",
    "TokenizerRecipe",
    "UnigramTokenizer",
    "WordPieceTokenizer",
    "WordTokenizer",
    "tokenizer_from_files",
    "tokenizer_to_files",
    "wrap_backend",
]
