"""Subword tokenizers (BPE, WordPiece, Unigram) trained with the `tokenizers` library on the training split."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from nlpzoo.tokenizers.base import (
    SPECIAL_TOKENS,
    UNK,
    TokenizerRecipe,
    batched,
    text_normalizer,
    wrap_backend,
)


class SubwordTokenizer(TokenizerRecipe):
    """Shared settings of the trained subword kinds; each subclass picks model, pre-tokenizer and trainer."""

    def __init__(
        self,
        vocab_size: int = 8_000,
        min_frequency: int = 2,
        lowercase: bool = False,
        strip_accents: bool = False,
        special_tokens: list[str] | None = None,
    ) -> None:
        self.vocab_size = vocab_size
        self.min_frequency = min_frequency
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.special_tokens = list(special_tokens) if special_tokens is not None else list(SPECIAL_TOKENS)

    def backend(self) -> tuple[Tokenizer, trainers.Trainer]:
        raise NotImplementedError

    def build(self, texts: Iterable[str]) -> PreTrainedTokenizerFast:
        backend, trainer = self.backend()
        backend.normalizer = text_normalizer(self.lowercase, self.strip_accents)
        backend.train_from_iterator(batched(texts), trainer=trainer)
        return wrap_backend(backend)


class BpeTokenizer(SubwordTokenizer):
    """Byte-level BPE (GPT-2 style): every byte is in the alphabet, so there is no [UNK] and decoding is exact."""

    kind = "bpe"

    def backend(self) -> tuple[Tokenizer, trainers.Trainer]:
        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=self.vocab_size,
            min_frequency=self.min_frequency,
            special_tokens=self.special_tokens,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        return backend, trainer


class WordPieceTokenizer(SubwordTokenizer):
    """BERT-style WordPiece: words split at whitespace and punctuation, continuations marked `##`."""

    kind = "wordpiece"

    def backend(self) -> tuple[Tokenizer, trainers.Trainer]:
        backend = Tokenizer(models.WordPiece(unk_token=UNK))
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(
            vocab_size=self.vocab_size,
            min_frequency=self.min_frequency,
            special_tokens=self.special_tokens,
            continuing_subword_prefix="##",
        )
        return backend, trainer


class UnigramTokenizer(SubwordTokenizer):
    """SentencePiece-style Unigram LM over `▁`-marked words, so spaces survive decoding."""

    kind = "unigram"

    def backend(self) -> tuple[Tokenizer, trainers.Trainer]:
        backend = Tokenizer(models.Unigram())
        backend.pre_tokenizer = pre_tokenizers.Metaspace()
        backend.decoder = decoders.Metaspace()
        # The Unigram trainer has no min_frequency; it prunes by likelihood down to vocab_size.
        trainer = trainers.UnigramTrainer(
            vocab_size=self.vocab_size, special_tokens=self.special_tokens, unk_token=UNK
        )
        return backend, trainer
