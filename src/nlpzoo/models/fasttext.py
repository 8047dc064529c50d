"""fastText (Bojanowski et al., 2017): word2vec whose input vector of a word is the mean of its own
vector and of hashed character n-gram vectors, so words never seen in training still get one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nlpzoo.models.word2vec import Word2Vec, Word2VecConfig
from nlpzoo.tasks import TaskSpec


def fasttext_hash(text: str) -> int:
    """fastText's 32-bit FNV-1a over UTF-8 bytes, each byte sign-extended as in its C++ (and gensim)."""
    h = 2166136261
    for byte in text.encode("utf-8"):
        h ^= byte if byte < 128 else byte | 0xFFFFFF00
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def character_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """All n-grams (min_n <= n <= max_n) of `<word>`, the word marked with its boundaries."""
    marked = f"<{word}>"
    return [marked[i : i + n] for n in range(min_n, max_n + 1) for i in range(len(marked) - n + 1)]


@dataclass
class FastTextConfig(Word2VecConfig):
    """fastText's hyper-parameters: word2vec's and the character n-grams' (conf/model/fasttext.yaml)."""

    min_n: int = 3
    max_n: int = 6
    buckets: int = 2_000_000  # hashed n-gram vectors


class FastText(Word2Vec):
    """Skip-gram or CBOW over words plus `buckets` hashed character n-gram vectors (min_n..max_n);
    training adds the input error to the word row and to every n-gram row, as fastText does."""

    family = "fasttext"
    config_class = FastTextConfig
    config: FastTextConfig
    word_bags: torch.Tensor  # a buffer (register_buffer), declared for the type checker

    def __init__(self, spec: TaskSpec | dict[str, Any], **options: Any) -> None:
        super().__init__(spec, **options)
        # Row w of the input table is word w; row V + h is n-gram bucket h; the last row pads the bags.
        vocab = self.spec.vocab_size
        bags = [[i, *self.bucket_rows(word)] for i, word in enumerate(self.words)]
        width = max(len(bag) for bag in bags)
        padded = torch.full((vocab, width), self.pad_row, dtype=torch.long)
        for i, bag in enumerate(bags):
            padded[i, : len(bag)] = torch.tensor(bag)
        self.register_buffer("word_bags", padded, persistent=False)  # (V, 1 + max n-grams)

    @property
    def pad_row(self) -> int:
        return self.spec.vocab_size + self.config.buckets

    def bucket_rows(self, word: str) -> list[int]:
        return [
            self.spec.vocab_size + fasttext_hash(g) % self.config.buckets
            for g in character_ngrams(word, self.config.min_n, self.config.max_n)
        ]

    def build_input_vectors(self, vocab: int, dim: int) -> nn.Embedding | nn.EmbeddingBag:
        buckets = self.config.buckets
        table = nn.EmbeddingBag(vocab + buckets + 1, dim, mode="mean", padding_idx=vocab + buckets)
        nn.init.uniform_(table.weight, -0.5 / dim, 0.5 / dim)
        return table

    def input_rows(self, ids: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each word's row and n-gram rows, weighted so the input vector is the mean over words of
        each word's bag mean: ids, valid (B, C) -> rows, weights (B, C * bag width)."""
        bags = self.word_bags[ids]  # (B, C, L)
        in_bag = (bags != self.pad_row).float()  # (B, C, L)
        per_word = valid.float() / valid.sum(1, keepdim=True)  # (B, C)
        weights = in_bag / in_bag.sum(2, keepdim=True) * per_word.unsqueeze(2)  # (B, C, L)
        return bags.flatten(1), weights.flatten(1)

    def word_vectors(self) -> torch.Tensor:
        return self.input_vectors(self.word_bags)  # (V, D)

    def vector_of(self, word: str) -> torch.Tensor:
        """(D,) a vocabulary word's vector, or for an unseen word the mean of its n-gram vectors."""
        if word in self.words:
            return self.word_vectors()[self.words.index(word)]
        rows = torch.tensor([self.bucket_rows(word)], device=self.word_bags.device)
        return self.input_vectors(rows)[0]
