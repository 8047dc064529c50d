"""Word-level and character-level tokenizers trained on the training split."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from nlpzoo.tokenizers.base import (
    SPECIAL_TOKENS,
    UNK,
    TokenizerRecipe,
    batched,
    text_normalizer,
    wrap_backend,
)


class WordTokenizer(TokenizerRecipe):
    """One id per whitespace-separated word (optionally split at punctuation), rare words to [UNK]."""

    kind = "word"

    def __init__(
        self,
        min_frequency: int = 1,
        max_vocab_size: int = 30_000,
        lowercase: bool = True,
        split_punctuation: bool = False,
        zero_digits: bool = False,
    ) -> None:
        self.min_frequency = min_frequency
        self.max_vocab_size = max_vocab_size
        self.lowercase = lowercase
        self.split_punctuation = split_punctuation
        self.zero_digits = zero_digits

    def build(self, texts: Iterable[str]) -> PreTrainedTokenizerFast:
        backend = Tokenizer(models.WordLevel(unk_token=UNK))
        backend.normalizer = text_normalizer(self.lowercase, zero_digits=self.zero_digits)
        backend.pre_tokenizer = (
            pre_tokenizers.Whitespace() if self.split_punctuation else pre_tokenizers.WhitespaceSplit()
        )
        trainer = trainers.WordLevelTrainer(
            vocab_size=self.max_vocab_size, min_frequency=self.min_frequency, special_tokens=SPECIAL_TOKENS
        )
        backend.train_from_iterator(batched(texts), trainer=trainer)
        return wrap_backend(backend)


def splits_punctuation(tokenizer: Any) -> bool:
    """Whether decoding joins words and punctuation with spaces ("a man ' s hat ."): a word-level
    vocabulary cut at punctuation, as `WordTokenizer(split_punctuation=True)` builds."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return (
        backend is not None
        and isinstance(backend.model, models.WordLevel)
        and isinstance(backend.pre_tokenizer, pre_tokenizers.Whitespace)
    )


_NO_SPACE_BEFORE = re.compile(r" +([.,!?;:%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) +")
_JOINED_INSIDE_WORDS = re.compile(r"(?<=\w) ([-'/]) (?=\w)|(?<=\d) ([.,:]) (?=\d)")  # man's, t-shirt, 5.5
_QUOTED = re.compile(r'" *([^"]*?) *"')


def detokenize(text: str) -> str:
    """Text as written from space-joined words and punctuation: "a man ' s t - shirt ( red ) ." ->
    "a man's t-shirt (red)."; what sacreBLEU should score against references as written."""
    text = _JOINED_INSIDE_WORDS.sub(lambda match: match.group(1) or match.group(2), text)
    text = _QUOTED.sub(r'"\1"', text)
    text = _NO_SPACE_AFTER.sub(r"\1", text)
    return _NO_SPACE_BEFORE.sub(r"\1", text).strip()


class CharTokenizer(TokenizerRecipe):
    """One id per character, whitespace included, so decoding gives back the text exactly."""

    kind = "char"

    def __init__(self, min_frequency: int = 1, max_vocab_size: int = 1_000, lowercase: bool = False) -> None:
        self.min_frequency = min_frequency
        self.max_vocab_size = max_vocab_size
        self.lowercase = lowercase

    def build(self, texts: Iterable[str]) -> PreTrainedTokenizerFast:
        backend = Tokenizer(models.WordLevel(unk_token=UNK))
        backend.normalizer = text_normalizer(self.lowercase)
        backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        backend.decoder = decoders.Fuse()
        trainer = trainers.WordLevelTrainer(
            vocab_size=self.max_vocab_size, min_frequency=self.min_frequency, special_tokens=SPECIAL_TOKENS
        )
        backend.train_from_iterator(batched(texts), trainer=trainer)
        return wrap_backend(backend)
