"""The Huffman tree of word2vec's hierarchical softmax, as padded (V, depth) arrays of inner nodes and codes."""

from __future__ import annotations

import numpy as np


def huffman_paths(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each word: the inner nodes from the root down (points), the branch taken at each (codes),
    and a mask, all (V, max_depth); inner node ids run 0..V-2, as in word2vec.c's `CreateBinaryTree`."""
    vocab = len(counts)
    if vocab < 2:
        return np.zeros((vocab, 1), np.int64), np.zeros((vocab, 1), np.float32), np.zeros((vocab, 1), bool)
    order = np.argsort(-counts, kind="stable")  # word2vec walks counts from the rarest
    weight = np.concatenate([counts[order].astype(np.float64), np.full(vocab - 1, np.inf)])
    parent = np.zeros(2 * vocab - 1, np.int64)
    branch = np.zeros(2 * vocab - 1, np.int8)
    leaf, inner = vocab - 1, vocab  # two queues: leaves by rising count, merged nodes in creation order
    for new in range(vocab, 2 * vocab - 1):
        picked = []
        for _ in range(2):
            if leaf >= 0 and weight[leaf] < weight[inner]:
                picked.append(leaf)
                leaf -= 1
            else:
                picked.append(inner)
                inner += 1
        weight[new] = weight[picked[0]] + weight[picked[1]]
        parent[picked] = new
        branch[picked[1]] = 1
    root = 2 * vocab - 2
    # Walk every leaf up to the root at once; paths are collected bottom-up, then reversed.
    node = np.arange(vocab)
    steps_nodes, steps_codes, steps_alive = [], [], []
    alive = np.ones(vocab, bool)
    while alive.any():
        steps_codes.append(np.where(alive, branch[node], 0))
        node = np.where(alive, parent[node], root)
        steps_nodes.append(np.where(alive, node - vocab, 0))
        steps_alive.append(alive.copy())
        alive &= node != root
    nodes, codes, mask = (np.stack(x, 1) for x in (steps_nodes, steps_codes, steps_alive))
    depth = mask.sum(1)
    # Reverse each row's live prefix so paths read root -> leaf.
    index = np.where(mask, depth[:, None] - 1 - np.arange(mask.shape[1])[None, :], 0)
    nodes, codes = np.take_along_axis(nodes, index, 1), np.take_along_axis(codes, index, 1)
    rank = np.empty(vocab, np.int64)
    rank[order] = np.arange(vocab)  # tree leaves are in sorted order; map back to word ids
    return nodes[rank], codes[rank].astype(np.float32), mask[rank]
