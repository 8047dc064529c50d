"""The arithmetic of word2vec's corpus, vectorized: vocabulary counts, subsampling, noise
distribution, dynamic-window contexts and the GloVe co-occurrence matrix.

Everything works on one int32 array of token ids plus the start offsets of its sentences, so a
text8-sized corpus (17 M tokens) costs 70 MB and no Python object per token or per pair.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
import scipy.sparse

from nlpzoo.errors import DataError

MAX_SENTENCE_WORDS = 10_000  # gensim (and word2vec.c) cut longer sentences at this length


def count_vocabulary(
    sentences: Iterable[list[str]], min_count: int, max_vocab_size: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Words with at least `min_count` occurrences, most frequent first (ties: first seen), and their counts."""
    counter: Counter[str] = Counter()
    for words in sentences:
        counter.update(words)
    ranked = [(word, count) for word, count in counter.most_common() if count >= min_count]
    if max_vocab_size:
        ranked = ranked[:max_vocab_size]
    if not ranked:
        raise DataError(f"no word occurs at least min_count={min_count} times; lower data.min_count")
    words = [word for word, _ in ranked]
    return words, np.array([count for _, count in ranked], dtype=np.int64)


def encode_corpus(sentences: Iterable[list[str]], word_ids: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (int32) of the in-vocabulary words, and where each sentence starts in that array.

    Out-of-vocabulary words are dropped before windows are taken, as in word2vec.
    """
    chunks: list[np.ndarray] = []
    starts: list[int] = []
    total = 0
    for words in sentences:
        ids = np.fromiter((word_ids.get(w, -1) for w in words), dtype=np.int32, count=len(words))
        ids = ids[ids >= 0]
        if len(ids):
            starts.append(total)
            chunks.append(ids)
            total += len(ids)
    if total == 0:
        raise DataError("the corpus has no in-vocabulary words")
    return np.concatenate(chunks), np.array(starts, dtype=np.int64)


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: keep a word of frequency f with (sqrt(f / t) + 1) * t / f, t = sample * total."""
    if sample <= 0:
        return np.ones(len(counts))
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1.0) * threshold / counts)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Cumulative unigram^power distribution, the table negatives are drawn from (`draw_negatives`)."""
    weights = counts.astype(np.float64) ** power
    cumulative = np.cumsum(weights / weights.sum())
    cumulative[-1] = 1.0
    return cumulative


def draw_negatives(cumulative: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Word ids drawn iid from the noise distribution: exact inverse-CDF lookup, sped up by a guide
    table (the answer for each of 4V equal slices of [0, 1)), so most draws need one comparison
    instead of a binary search with a cache miss per level."""
    uniform = rng.random(shape).reshape(-1)
    slices = 4 * len(cumulative)
    guide = np.searchsorted(cumulative, np.arange(slices) / slices, side="right")  # (4V,)
    ids = guide[(uniform * slices).astype(np.int64)]
    behind = np.flatnonzero(cumulative[ids] <= uniform)  # draws whose word lies further in the slice
    while behind.size:
        ids[behind] += 1
        behind = behind[cumulative[ids[behind]] <= uniform[behind]]
    return ids.astype(np.int64).reshape(shape)


def context_windows(
    ids: np.ndarray, sentence_index: np.ndarray, window: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each position's context words within a dynamic window, as a (N, 2*window) matrix and its mask.

    As in word2vec, every center draws its own window size uniformly from 1..window, so near
    words count more; windows stop at sentence boundaries. Column k < window is offset
    k - window (left), column k >= window is offset k - window + 1 (right).
    """
    n = len(ids)
    reach = rng.integers(1, window + 1, size=n)  # (N,)
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])  # (2W,)
    positions = np.arange(n)[:, None] + offsets[None, :]  # (N, 2W)
    inside = (positions >= 0) & (positions < n)
    clipped = np.clip(positions, 0, n - 1)
    mask = inside & (np.abs(offsets)[None, :] <= reach[:, None])
    mask &= sentence_index[clipped] == sentence_index[:, None]
    return ids[clipped].astype(np.int64), mask


def cooccurrence_matrix(
    ids: np.ndarray, sentence_starts: np.ndarray, window: int, vocab_size: int, chunk_tokens: int = 1_000_000
) -> scipy.sparse.csr_matrix:
    """GloVe's symmetric co-occurrence counts X[i, j], each pair weighted 1/distance, within sentences.

    Built chunk by chunk with sparse sums, so memory follows the number of distinct pairs.
    """
    sentence_index = sentence_of_positions(len(ids), sentence_starts)
    total = scipy.sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    for begin in range(0, len(ids), chunk_tokens):
        end = min(len(ids), begin + chunk_tokens + window)  # overlap so pairs across chunk edges count once
        rows, cols, weights = [], [], []
        for distance in range(1, window + 1):
            left = np.arange(begin, min(begin + chunk_tokens, end - distance))
            same = sentence_index[left] == sentence_index[left + distance]
            left = left[same]
            rows.append(ids[left])
            cols.append(ids[left + distance])
            weights.append(np.full(len(left), 1.0 / distance))
        r, c, w = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
        part = scipy.sparse.coo_matrix(
            (np.concatenate([w, w]), (np.concatenate([r, c]), np.concatenate([c, r]))),
            shape=(vocab_size, vocab_size),
        )
        total = total + part.tocsr()  # tocsr() sums duplicate entries
    return total


def sentence_of_positions(length: int, sentence_starts: np.ndarray) -> np.ndarray:
    """(N,) index of the sentence each token position belongs to."""
    return (np.searchsorted(sentence_starts, np.arange(length), side="right") - 1).astype(np.int64)
