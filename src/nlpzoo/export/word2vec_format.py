"""Word vectors in the word2vec text/binary format, written and read through gensim's KeyedVectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def save_word2vec_format(
    path: str | Path, words: list[str], vectors: torch.Tensor, binary: bool = False
) -> Path:
    """Write (V, D) `vectors` for `words` so `KeyedVectors.load_word2vec_format(path, binary=...)` loads them."""
    from gensim.models import KeyedVectors

    matrix = vectors.detach().float().cpu().numpy()
    keyed = KeyedVectors(vector_size=matrix.shape[1], dtype=np.float32)
    keyed.add_vectors(list(words), matrix)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keyed.save_word2vec_format(str(path), binary=binary)
    return path


def load_word2vec_format(path: str | Path, binary: bool = False) -> tuple[list[str], torch.Tensor]:
    """The words and (V, D) vectors of a word2vec-format file."""
    from gensim.models import KeyedVectors

    keyed = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    return list(keyed.index_to_key), torch.from_numpy(keyed.vectors.copy())
