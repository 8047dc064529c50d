"""Metric states sum (or gather) across processes: two gloo ranks give the single-process values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from nlpzoo.metrics import LanguageModelScore, SacreBleuScore, SpanF1, SquadScore

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
HYPOTHESES = ["the cat sat on the mat", "a man plays guitar", "dogs run", "it is five"]
REFERENCES = ["the cat is on the mat", "a man plays the guitar", "two dogs run", "it is five o'clock"]


def feed(metrics: dict, part: slice) -> None:
    """Each rank (or the single process, with all parts) feeds its share of fixed inputs."""
    generator = torch.Generator().manual_seed(0)
    tags = torch.randint(0, len(TAGS), (8, 10), generator=generator)
    labels = torch.randint(0, len(TAGS), (8, 10), generator=generator)
    metrics["spans"].update(tags[part], labels[part])
    metrics["bleu"].update(HYPOTHESES[part], REFERENCES[part])
    # QA: example 1 has windows on both ranks; its best (score 9) is on the second half.
    keys, scores = torch.tensor([1, 2, 3, 1, 4, 3, 5, 6]), torch.tensor([1.0, 2, 3, 9, 1, 0, 1, 1])
    exact = torch.tensor([1.0, 0, 1, 0, 1, 1, 0, 1])
    metrics["squad"].update(keys[part], scores[part], exact[part], exact[part])
    metrics["lm"].update(torch.tensor(3.0 * part.start), torch.tensor(2), torch.tensor(5))


def fresh() -> dict:
    return {
        "spans": SpanF1(TAGS),
        "bleu": SacreBleuScore(),
        "squad": SquadScore(),
        "lm": LanguageModelScore(),
    }


def flat(metrics: dict) -> dict[str, float]:
    values = {}
    for name, metric in metrics.items():
        result = metric.compute()
        values.update(
            {f"{name}/{k}": float(v) for k, v in result.items()}
            if isinstance(result, dict)
            else {name: float(result)}
        )
    return values


def rank_main(rank: int, init_file: str, results_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    metrics = fresh()
    halves = {0: [slice(0, 2), slice(4, 6)], 1: [slice(2, 4), slice(6, 8)]}[rank]
    for part in halves:
        feed(metrics, part)
    torch.save(flat(metrics), os.path.join(results_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_two_ranks_compute_what_one_process_computes(tmp_path: Path) -> None:
    single = fresh()
    for part in (slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8)):
        feed(single, part)
    expected = flat(single)
    # fork: the ranks inherit the imported modules instead of importing them again (seconds each).
    mp.start_processes(rank_main, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, start_method="fork")
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert got == pytest.approx(expected)
    assert expected["squad/exact_match"] == pytest.approx(100 * 3 / 6)  # best windows of examples 1..6
