"""Word-similarity and analogy benchmarks (WordSim353, SimLex-999, Google analogies) as id tensors.

Files are read in the formats gensim ships and wordvectors.org uses: `w1 w2 score` per line
(tab or space, `#` comments) and `: section` / `a b c d` analogy lines. Words are lower-cased,
and pairs or questions with a word outside the vocabulary are skipped, as gensim's
`evaluate_word_pairs` and `evaluate_word_analogies` do.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nlpzoo.errors import DataError

GENSIM_PREFIX = "gensim:"


def resolve_path(path: str) -> Path:
    """A user's path, or `gensim:NAME` for a file gensim ships in `gensim/test/test_data`."""
    if path.startswith(GENSIM_PREFIX):
        from gensim.test.utils import datapath

        located = Path(datapath(path[len(GENSIM_PREFIX) :]))
    else:
        located = Path(path).expanduser()
    if not located.is_file():
        raise DataError(f"file not found: {located} (from '{path}'; use a path or gensim:FILE_NAME)")
    return located


def read_similarity_pairs(path: Path) -> list[tuple[str, str, float]]:
    """(word, word, gold score) rows; a line that is not `w1 w2 score` is an error naming it."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        try:
            pairs.append((fields[0].lower(), fields[1].lower(), float(fields[2])))
        except (IndexError, ValueError):
            raise DataError(f"{path}:{number}: expected 'word word score', got {line!r}") from None
    return pairs


def read_analogies(path: Path) -> list[tuple[str, str, str, str]]:
    """(a, b, c, d) questions, "a is to b as c is to d", lower-cased; section lines skipped."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith(":"):
            continue
        fields = line.lower().split()
        if len(fields) != 4:
            raise DataError(f"{path}:{number}: expected 4 words 'a b c d', got {line!r}")
        questions.append((fields[0], fields[1], fields[2], fields[3]))
    return questions


def similarity_batch(
    pairs: list[tuple[str, str, float]], word_ids: dict[str, int], benchmark_index: int
) -> dict[str, torch.Tensor] | None:
    """{pair_ids (P, 2), pair_scores (P,), benchmark_index ()} of the in-vocabulary pairs, or None if < 3."""
    kept = [(word_ids[a], word_ids[b], s) for a, b, s in pairs if a in word_ids and b in word_ids]
    if len(kept) < 3:
        return None
    return {
        "pair_ids": torch.tensor([[a, b] for a, b, _ in kept], dtype=torch.long),
        "pair_scores": torch.tensor([s for _, _, s in kept], dtype=torch.float32),
        "benchmark_index": torch.tensor(benchmark_index),
    }


def analogy_batch(
    questions: list[tuple[str, str, str, str]], word_ids: dict[str, int], restrict_vocab: int
) -> dict[str, torch.Tensor] | None:
    """{analogy_ids (Q, 4)} of the questions whose four words are among the `restrict_vocab` most
    frequent (ids are frequency ranks), or None if none is; the answer is searched in the same restricted
    vocabulary. One batch: the objective scores it as one (chunked) matrix product."""
    allowed = {w: i for w, i in word_ids.items() if i < restrict_vocab}
    kept = [[allowed[w] for w in q] for q in questions if all(w in allowed for w in q)]
    return {"analogy_ids": torch.tensor(kept, dtype=torch.long)} if kept else None
