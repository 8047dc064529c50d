"""The word-embedding corpus: one stream of token ids served as word2vec windows or GloVe co-occurrences.

Training batches are whole batches drawn with numpy in one go (an `IterableDataset` that yields
dicts of tensors, `batch_size=None` in the loader), never per-example items. Validation and
test batches carry the word-similarity and analogy benchmarks as id tensors; the objective turns
the model's vectors into Spearman correlations and analogy accuracy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from nlpzoo.data import word_benchmarks as bench
from nlpzoo.data import word_windows as ww
from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.sources import first_present_column, load_splits
from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import TaskKind, TaskSpec
from nlpzoo.tokenizers.base import UNK, wrap_backend

log = logging.getLogger(__name__)

BatchFormat = Literal["windows", "cooccurrence"]
TEXT_SUFFIXES = {
    ".txt",
    ".cor",
    ".text",
    "",
}  # read as plain text, line by line; others go through `datasets`
READ_BYTES = 1 << 23


class WindowBatches(IterableDataset):
    """One epoch of word2vec batches: the corpus cut into spans of `batch_words` tokens, each span
    subsampled, then every kept token a center with its dynamic-window contexts and negatives.

    A batch: input_ids (N,) centers; context_ids, context_mask (N, 2W); negative_ids (M, K) with
    M = context_mask.sum(), one row per (center, context) pair in row-major mask order.
    Centers left without any context (a one-word sentence after subsampling) are dropped.
    """

    def __init__(
        self,
        ids: np.ndarray,
        sentence_starts: np.ndarray,
        keep: np.ndarray,
        noise: np.ndarray,
        window: int,
        negatives: int,
        batch_words: int,
        seed: int,
    ) -> None:
        self.ids, self.keep, self.noise = ids, keep, noise
        self.sentence_index = ww.sentence_of_positions(len(ids), sentence_starts).astype(np.int32)
        self.window, self.negatives, self.batch_words = window, negatives, batch_words
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.ids) / self.batch_words)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        worker = get_worker_info()
        shard, shards = (worker.id, worker.num_workers) if worker else (0, 1)
        rng = np.random.default_rng([self.seed, self.epoch, shard])
        self.epoch += 1  # a fresh draw next epoch even when nobody calls set_epoch
        for span in range(shard, len(self), shards):
            begin = span * self.batch_words
            yield self.batch(slice(begin, begin + self.batch_words), rng)

    def batch(self, span: slice, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        ids, sentences = self.ids[span], self.sentence_index[span]
        kept = rng.random(len(ids)) < self.keep[ids]
        ids, sentences = ids[kept], sentences[kept]
        contexts, mask = ww.context_windows(ids, sentences, self.window, rng)
        has_context = mask.any(axis=1)
        centers, contexts, mask = ids[has_context], contexts[has_context], mask[has_context]
        negatives = ww.draw_negatives(self.noise, (int(mask.sum()), self.negatives), rng)
        return {
            "input_ids": torch.from_numpy(centers.astype(np.int64)),
            "context_ids": torch.from_numpy(contexts),
            "context_mask": torch.from_numpy(mask),
            "negative_ids": torch.from_numpy(negatives),
        }


class CooccurrenceBatches(IterableDataset):
    """GloVe's training data: the non-zero co-occurrence entries in a fresh random order each epoch,
    as batches of row_ids, col_ids (B,) and cooccurrence (B,) weighted counts."""

    def __init__(self, matrix: Any, batch_size: int, seed: int) -> None:
        coo = matrix.tocoo()
        self.rows, self.cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
        self.values = coo.data.astype(np.float32)
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0

    def __len__(self) -> int:
        return math.ceil(len(self.values) / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.values))
        self.epoch += 1
        for begin in range(0, len(order), self.batch_size):
            chosen = order[begin : begin + self.batch_size]
            yield {
                "row_ids": torch.from_numpy(self.rows[chosen]),
                "col_ids": torch.from_numpy(self.cols[chosen]),
                "cooccurrence": torch.from_numpy(self.values[chosen]),
            }


class WordEmbeddingCorpus(TaskDataModule):
    """A text file (`path`, or `gensim:NAME` for a file gensim ships) or a text column of a dataset,
    as word2vec/GloVe training batches plus the similarity and analogy benchmarks.

    Lines (rows) are sentences: windows never cross them. `batch_format` picks word2vec windows
    (skip-gram, CBOW, fastText) or GloVe's co-occurrence entries. `validate_analogies=false` leaves
    the analogy benchmark out of validation (it costs more than the similarities), to test only.
    """

    task_kind = TaskKind.WORD_EMBEDDING

    def __init__(
        self,
        text_column: str | list[str] = "text",
        batch_format: BatchFormat = "windows",
        min_count: int = 5,
        max_vocab_size: int | None = None,
        max_train_words: int | None = None,
        sample: float = 1e-3,
        window: int = 5,
        negatives: int = 5,
        noise_power: float = 0.75,
        batch_words: int = 10_000,
        cooccurrence_window: int = 10,
        similarity_benchmarks: dict[str, str] | None = None,
        analogy_benchmark: str | None = None,
        analogy_restrict_vocab: int = 30_000,
        validate_analogies: bool = True,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if self.cleaning is not None:  # its setup streams the corpus past the shared cleaning stage
            raise DataError(
                "data.cleaning is not supported for the word-embedding corpus (it streams raw text)"
            )
        if batch_format not in ("windows", "cooccurrence"):
            raise DataError(f"data.batch_format='{batch_format}' is not one of: windows, cooccurrence")
        if window < 1 or negatives < 0 or batch_words < 1 or min_count < 1:
            raise DataError(
                "data.window, data.batch_words and data.min_count must be >= 1, data.negatives >= 0"
            )
        self.text_column = text_column
        self.batch_format = batch_format
        self.min_count, self.max_vocab_size, self.max_train_words = min_count, max_vocab_size, max_train_words
        self.sample, self.window, self.negatives, self.noise_power = sample, window, negatives, noise_power
        self.batch_words, self.cooccurrence_window = batch_words, cooccurrence_window
        self.similarity_benchmarks = dict(similarity_benchmarks or {})
        self.analogy_benchmark = analogy_benchmark
        self.analogy_restrict_vocab = analogy_restrict_vocab
        self.validate_analogies = validate_analogies
        self.words: list[str] = []
        self.counts = np.zeros(0, dtype=np.int64)
        self.eval_batches: list[dict[str, torch.Tensor]] = []
        self.train_data: IterableDataset | None = None

    # --- reading the corpus ------------------------------------------------------------------
    def sentences(self) -> Iterator[list[str]]:
        """The corpus as lists of at most 10,000 words (gensim's cut), streamed, `max_train_words` in all."""
        budget = self.max_train_words
        for words in self._raw_sentences():
            for begin in range(0, len(words), ww.MAX_SENTENCE_WORDS):
                piece = words[begin : begin + ww.MAX_SENTENCE_WORDS]
                if budget is not None:
                    if budget <= 0:
                        return
                    piece, budget = piece[:budget], budget - len(piece)
                yield piece

    def _raw_sentences(self) -> Iterator[list[str]]:
        if self.path and (
            self.path.startswith(bench.GENSIM_PREFIX) or Path(self.path).suffix in TEXT_SUFFIXES
        ):
            yield from read_text_lines(bench.resolve_path(self.path))
            return
        train = load_splits(self.source, self.path, self.files, self.subset, self.reader_options)["train"]
        column = first_present_column(train, self.text_column, "text", f"{self.path or self.source}")
        for start in range(0, len(train), 10_000):
            for text in train[start : start + 10_000][column]:
                yield (text or "").split()

    # --- setup -------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.spec is not None:
            return
        if self.tokenizer is None:
            self.words, self.counts = ww.count_vocabulary(
                self.sentences(), self.min_count, self.max_vocab_size
            )
            self.tokenizer = vocabulary_tokenizer(self.words)
        else:  # a checkpoint's vocabulary: keep its ids, recount the words in this corpus
            vocab = self.tokenizer.get_vocab()
            self.words = sorted((w for w in vocab if w != UNK), key=vocab.__getitem__)
        word_ids = {word: i for i, word in enumerate(self.words)}
        ids, starts = ww.encode_corpus(self.sentences(), word_ids)
        if len(self.counts) != len(self.words):
            self.counts = np.bincount(ids, minlength=len(self.words)).astype(np.int64)
        if self.batch_format == "windows":
            self.train_data = WindowBatches(
                ids,
                starts,
                ww.keep_probabilities(self.counts, self.sample),
                ww.noise_distribution(self.counts, self.noise_power),
                self.window,
                self.negatives,
                self.batch_words,
                self.seed,
            )
        else:
            matrix = ww.cooccurrence_matrix(ids, starts, self.cooccurrence_window, len(self.words))
            self.train_data = CooccurrenceBatches(matrix, self.batch_size, self.seed)
        self.eval_batches = self.benchmark_batches(word_ids)
        self.spec = self.build_spec()
        log.info(
            "%s: %d tokens, vocabulary %d (min_count %d), %d training batches per epoch",
            type(self).__name__,
            len(ids),
            len(self.words),
            self.min_count,
            len(self.train_data),
        )

    def benchmark_batches(self, word_ids: dict[str, int]) -> list[dict[str, torch.Tensor]]:
        """One batch per similarity benchmark with >= 3 in-vocabulary pairs, then the analogy batches."""
        batches = []
        self.similarity_names: list[str] = []
        for name, path in self.similarity_benchmarks.items():
            similarity = bench.similarity_batch(
                bench.read_similarity_pairs(bench.resolve_path(path)), word_ids, len(self.similarity_names)
            )
            if similarity is None:
                log.warning("benchmark %s: fewer than 3 pairs in the vocabulary; skipped", name)
                continue
            self.similarity_names.append(name)
            batches.append(similarity)
        self.has_analogies = False
        if self.analogy_benchmark:
            questions = bench.read_analogies(bench.resolve_path(self.analogy_benchmark))
            analogies = bench.analogy_batch(questions, word_ids, self.analogy_restrict_vocab)
            self.has_analogies = analogies is not None
            batches += [analogies] if analogies is not None else []
        return batches

    def build_spec(self) -> TaskSpec:
        return TaskSpec(
            kind=self.task_kind,
            vocab_size=len(self.words),
            pad_token_id=0,
            words=self.words,
            counts=self.counts.tolist(),
            batch_format=self.batch_format,
            similarity_benchmarks=self.similarity_names,
            analogies=self.has_analogies,
            analogy_restrict_vocab=self.analogy_restrict_vocab,
        )

    # --- loaders -----------------------------------------------------------------------------
    def padding_fraction(self, split: str = "train") -> float:
        return 0.0  # batches are flat arrays of ids: nothing is padded

    def train_dataloader(self) -> DataLoader:
        if self.train_data is None:
            raise RuntimeError("call setup() before asking for a data loader")
        return DataLoader(
            self.train_data,
            batch_size=None,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def _benchmark_loader(self, analogies: bool = True) -> DataLoader:
        batches = [batch for batch in self.eval_batches if analogies or "analogy_ids" not in batch]
        if not batches:
            raise DataError(
                "no evaluation batches: give data.similarity_benchmarks or data.analogy_benchmark with words "
                "of this vocabulary"
            )
        return DataLoader(batches, batch_size=None)  # type: ignore[arg-type]  # a list is a map-style dataset

    def val_dataloader(self) -> DataLoader:
        """Every benchmark, or with `validate_analogies=false` the similarities only (analogies at test)."""
        return self._benchmark_loader(analogies=self.validate_analogies)

    def test_dataloader(self) -> DataLoader:
        return self._benchmark_loader()

    def predict_dataloader(self) -> DataLoader:
        return self._benchmark_loader()


def vocabulary_tokenizer(words: list[str]) -> Any:
    """A word-level tokenizer whose ids are the frequency ranks of `words`; [UNK] comes last (id V),
    outside the embedding table, so ids < V are exactly the trained words."""
    vocab = {word: i for i, word in enumerate(words)}
    vocab[UNK] = len(words)
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return wrap_backend(backend)


def read_text_lines(path: Path) -> Iterator[list[str]]:
    """Each line's words; a very long line (text8 is one 100 MB line) comes in pieces of ~8 MB,
    so no more than one piece's words are held at a time."""
    carry = ""
    try:
        with path.open(encoding="utf-8") as stream:
            while block := stream.read(READ_BYTES):
                lines = (carry + block).split("\n")
                carry = lines.pop()
                yield from (line.split() for line in lines)
                cut = carry.rfind(" ")
                if len(carry) > READ_BYTES and cut > 0:
                    yield carry[:cut].split()
                    carry = carry[cut:]
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text: {error}") from error
    if carry.strip():
        yield carry.split()
