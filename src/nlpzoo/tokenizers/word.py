"""Word-level and character-level tokenizers trained on the training split."""

from __future__ import annotations

from collections.abc import Iterable

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
