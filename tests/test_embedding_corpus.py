"""The word-embedding corpus: windows, subsampling and noise statistics against hand computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from nlpzoo.data import WordEmbeddingCorpus
from nlpzoo.data import word_windows as ww
from nlpzoo.errors import DataError

TINY_TEXT = "a b c a b\nd a b c\n"  # counts: a 3, b 3, c 2, d 1


def corpus(tmp_path: Path, text: str = TINY_TEXT, **options) -> WordEmbeddingCorpus:
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    bench = tmp_path / "sim.txt"
    bench.write_text("a\tb\t9.0\na\tc\t5.0\nb\tc\t1.0\nb\tzzz\t3.0\n")
    defaults = {"min_count": 1, "sample": 0.0, "window": 1, "negatives": 3, "seed": 0}
    module = WordEmbeddingCorpus(
        path=str(path), similarity_benchmarks={"tiny": str(bench)}, **{**defaults, **options}
    )
    module.setup()
    return module


def test_vocabulary_is_frequency_ranked_with_min_count(tmp_path: Path) -> None:
    module = corpus(tmp_path, min_count=2)
    assert module.words == ["a", "b", "c"]  # d (once) dropped; ties keep first-seen order
    assert module.counts.tolist() == [3, 3, 2]
    assert module.spec.vocab_size == 3
    assert module.tokenizer.convert_tokens_to_ids(["a", "c"]) == [0, 2]


def test_window_one_gives_exactly_the_neighbours_within_each_line(tmp_path: Path) -> None:
    module = corpus(tmp_path)
    batch = next(iter(module.train_dataloader()))
    centers, contexts, mask = batch["input_ids"], batch["context_ids"], batch["context_mask"]
    pairs = sorted(
        zip(centers.unsqueeze(1).expand_as(mask)[mask].tolist(), contexts[mask].tolist(), strict=True)
    )
    ids = {w: i for i, w in enumerate(module.words)}
    expected = []
    for line in TINY_TEXT.splitlines():  # by hand: every word with its left and right neighbour, per line
        words = line.split()
        for i, word in enumerate(words):
            expected += [(ids[word], ids[words[j]]) for j in (i - 1, i + 1) if 0 <= j < len(words)]
    assert pairs == sorted(expected)  # no pair crosses the line break between "b" and "d"
    assert batch["negative_ids"].shape == (len(pairs), 3)


def test_dynamic_window_weights_near_words_like_word2vec() -> None:
    # With window 5, a context at distance d is kept when the drawn reach (uniform 1..5) is >= d:
    # probability (5 - d + 1) / 5.
    ids = np.arange(200_000, dtype=np.int64) % 1000
    _, mask = ww.context_windows(ids, np.zeros(len(ids), np.int64), 5, np.random.default_rng(0))
    inner = mask[10:-10]
    for distance in range(1, 6):
        share = inner[:, 5 + distance - 1].mean()  # right-hand column at this distance
        assert share == pytest.approx((6 - distance) / 5, abs=0.01)


def test_subsampling_keeps_words_with_word2vecs_probability() -> None:
    counts = np.array([100_000, 10_000, 100, 1])
    keep = ww.keep_probabilities(counts, sample=1e-3)
    t = 1e-3 * counts.sum()
    assert keep[0] == pytest.approx((np.sqrt(100_000 / t) + 1) * t / 100_000)
    assert keep[2:].tolist() == [1.0, 1.0]  # rare words are always kept


def test_subsampled_batches_follow_the_keep_probabilities(tmp_path: Path) -> None:
    text = " ".join(["x"] * 9000 + ["y"] * 1000 + [f"w{i}" for i in range(500)] * 2) + "\n"
    module = corpus(tmp_path, text, sample=1e-2, batch_words=100_000, window=1)
    counts = module.counts
    expected = ww.keep_probabilities(counts, 1e-2)
    kept = np.zeros(len(counts))
    for _ in range(5):
        for batch in module.train_dataloader():
            kept += np.bincount(batch["input_ids"].numpy(), minlength=len(counts))
    x = module.words.index("x")
    assert kept[x] / (5 * counts[x]) == pytest.approx(expected[x], rel=0.05)


def test_negatives_follow_unigram_to_the_three_quarters() -> None:
    counts = np.array([800, 100, 50, 10])
    draws = ww.draw_negatives(ww.noise_distribution(counts), (200_000,), np.random.default_rng(0))
    expected = counts**0.75 / (counts**0.75).sum()
    observed = np.bincount(draws, minlength=4) / len(draws)
    assert observed == pytest.approx(expected, abs=0.005)
    assert scipy.stats.chisquare(np.bincount(draws, minlength=4), expected * len(draws)).pvalue > 1e-3


def test_cooccurrence_matrix_weights_pairs_by_inverse_distance() -> None:
    ids = np.array([0, 1, 2, 0, 1], dtype=np.int32)
    matrix = ww.cooccurrence_matrix(ids, np.array([0, 3]), window=2, vocab_size=3).toarray()
    # sentence 1 = [0, 1, 2]: (0,1) d1, (1,2) d1, (0,2) d2; sentence 2 = [0, 1]: (0,1) d1
    expected = np.array([[0, 2, 0.5], [2, 0, 1], [0.5, 1, 0]])
    assert np.allclose(matrix, expected)


def test_cooccurrence_batches_cover_every_entry_once(tmp_path: Path) -> None:
    module = corpus(tmp_path, batch_format="cooccurrence", batch_size=3, cooccurrence_window=2)
    batches = list(module.train_dataloader())
    total = sum(float(b["cooccurrence"].sum()) for b in batches)
    assert total == pytest.approx(module.train_data.values.sum())
    assert sum(len(b["row_ids"]) for b in batches) == len(module.train_data.values)


def test_benchmark_pairs_outside_the_vocabulary_are_skipped(tmp_path: Path) -> None:
    module = corpus(tmp_path)
    (batch,) = list(module.val_dataloader())
    assert batch["pair_ids"].tolist() == [[0, 1], [0, 2], [1, 2]]  # "b zzz" skipped
    assert module.spec.similarity_benchmarks == ["tiny"]


def test_gensim_shipped_corpus_and_bad_input(tmp_path: Path) -> None:
    module = WordEmbeddingCorpus(
        path="gensim:head500.noblanks.cor",
        max_train_words=20_000,
        similarity_benchmarks={"wordsim353": "gensim:wordsim353.tsv"},
        analogy_benchmark="gensim:questions-words.txt",
    )
    module.setup()
    assert sum(len(b["input_ids"]) for b in module.train_dataloader()) > 10_000
    with pytest.raises(DataError, match="file not found"):
        WordEmbeddingCorpus(path=str(tmp_path / "missing.txt")).setup()
    with pytest.raises(DataError, match="min_count"):
        corpus(tmp_path, min_count=50)
