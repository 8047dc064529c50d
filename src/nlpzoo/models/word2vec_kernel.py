"""word2vec.c's per-example SGD loop, compiled with numba: the CPU path of `Word2Vec.sgd_pass`.

Each example reads its input vector (a weighted sum of input-table rows: one word for skip-gram,
the context mean for CBOW, a bag of n-grams for fastText), scores it against the target and its
noise words (negative sampling) and/or the nodes of the target's Huffman path (hierarchical
softmax), updates those output rows at once, then adds the accumulated error (word2vec.c's
`neu1e`) to every input row. Examples are split into one contiguous range per thread that run
without locks (word2vec.c's Hogwild). Everything stays in cache, which the vectorized torch path
(GPU) cannot do on a CPU: there its (batch, targets, dim) gathers make each step memory-bound.
"""

from __future__ import annotations

import math

import numpy as np

from nlpzoo.optional import optional_import

with optional_import("numba"):
    import numba

# numba's OpenMP layer shares torch's OpenMP runtime and leaves its threads spinning: every torch op
# after a kernel call ran ~40x slower (measured). The work-queue layer sleeps between calls.
numba.config.THREADING_LAYER = "workqueue"
NO_LIMIT = 1e30  # the max_score of negative sampling (word2vec.c clips its sigmoid there; exact here)


@numba.njit(fastmath=True, cache=True, nogil=True)
def _decide(
    hidden: np.ndarray,
    table: np.ndarray,
    row: int,
    label: float,
    alpha: float,
    error: np.ndarray,
    update: bool,
    max_score: float,
) -> float:
    """One logistic decision of hidden (D,) against table[row] (D,): adds its input error to `error`
    and, with `update` and a score within +-max_score, alpha * gradient to the row; returns -log p(label)."""
    dim, vector = hidden.shape[0], table[row]
    score = np.float32(0.0)
    for d in range(dim):
        score += hidden[d] * vector[d]
    probability = np.float32(1.0) / (np.float32(1.0) + math.exp(-score))  # p(label = 1)
    gradient = np.float32((label - probability) * alpha)
    if update and abs(score) < max_score:
        for d in range(dim):
            error[d] += gradient * vector[d]
            vector[d] += gradient * hidden[d]
    correct = probability if label > 0.5 else np.float32(1.0) - probability
    return -math.log(max(correct, np.float32(1e-7)))


@numba.njit(parallel=True, fastmath=True, cache=True)
def sgd_examples(
    inputs: np.ndarray,
    rows: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    noise: np.ndarray,
    outputs: np.ndarray,
    nodes: np.ndarray,
    hs_points: np.ndarray,
    hs_labels: np.ndarray,
    hs_mask: np.ndarray,
    alphas: np.ndarray,
    examples_per_alpha: int,
    negative: bool,
    update: bool,
    threads: int,
    hs_max_score: float,
) -> float:
    """Train (or with update=False only score) examples; returns their summed loss.

    inputs (N, D) input table; rows, weights (B, R) each example's input rows and their weight;
    targets (B,); noise (B, K); outputs (V, D) negative-sampling table; nodes (V - 1, D) Huffman
    node table with hs_points, hs_labels, hs_mask (V, depth) (depth 0: no hierarchical softmax);
    example i uses alphas[i // examples_per_alpha]; a node decision scoring beyond +-hs_max_score makes
    no step (word2vec.c's MAX_EXP rule).
    """
    count, dim = rows.shape[0], inputs.shape[1]
    part_size = (count + threads - 1) // threads
    total = 0.0
    for part in numba.prange(threads):
        hidden = np.empty(dim, np.float32)
        error = np.empty(dim, np.float32)
        loss = 0.0
        for i in range(part * part_size, min(count, (part + 1) * part_size)):
            alpha = alphas[i // examples_per_alpha] if update else 0.0
            hidden[:] = 0.0
            error[:] = 0.0
            for r in range(rows.shape[1]):
                weight = weights[i, r]
                if weight > 0:
                    source = inputs[rows[i, r]]
                    for d in range(dim):
                        hidden[d] += weight * source[d]
            target = targets[i]
            if negative:
                loss += _decide(hidden, outputs, target, 1.0, alpha, error, update, NO_LIMIT)
                for k in range(noise.shape[1]):
                    if noise[i, k] != target:  # word2vec skips a noise word equal to the target
                        loss += _decide(hidden, outputs, noise[i, k], 0.0, alpha, error, update, NO_LIMIT)
            for j in range(hs_points.shape[1]):
                if hs_mask[target, j]:
                    loss += _decide(
                        hidden,
                        nodes,
                        hs_points[target, j],
                        hs_labels[target, j],
                        alpha,
                        error,
                        update,
                        hs_max_score,
                    )
            if update:
                # The full error goes to every input row (word, context word or n-gram), as in word2vec.c.
                for r in range(rows.shape[1]):
                    if weights[i, r] > 0:
                        row = inputs[rows[i, r]]
                        for d in range(dim):
                            row[d] += error[d]
        total += loss
    return total
