"""Samplers drawn from (seed, epoch) alone: length buckets (less padding), epoch shuffles, random LM windows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class LengthBucketSampler(Sampler[int]):
    """Yields indices so that each run of `batch_size` has similar lengths, in random batch order.

    Shuffles, cuts the order into pools of `pool_batches` batches, sorts each pool by length,
    cuts the result into batches and shuffles the full ones (a short last batch stays last). A plain index sampler, so Lightning can still
    swap it for a DistributedSampler under DDP.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, pool_batches: int = 50, seed: int = 0
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.pool_size = batch_size * pool_batches
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        by_length: list[int] = []
        for start in range(0, len(order), self.pool_size):
            by_length += sorted(order[start : start + self.pool_size], key=self.lengths.__getitem__)
        batches = [by_length[i : i + self.batch_size] for i in range(0, len(by_length), self.batch_size)]
        # Only the last batch may be short, and it stays last: the DataLoader cuts this index stream
        # every `batch_size`, so a short batch in the middle would shift every later batch across buckets.
        full = len(by_length) // self.batch_size
        shuffled = torch.randperm(full, generator=generator).tolist()
        return [batches[i] for i in shuffled] + batches[full:]

    def __iter__(self) -> Iterator[int]:
        for batch in self.batches():
            yield from batch

    def __len__(self) -> int:
        return len(self.lengths)


class EpochSeededSampler(Sampler[int]):
    """A sampler whose draws depend only on (seed, epoch), never on the global generator: dropout stays
    the global RNG's only consumer, and a resumed run draws exactly what the uninterrupted one did."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self) -> torch.Generator:
        """This epoch's generator."""
        return torch.Generator().manual_seed(self.seed + self.epoch)


class EpochShuffleSampler(EpochSeededSampler):
    """A random order of `size` indices, new each epoch (with `RngStateCheckpoint`, resumable)."""

    def __init__(self, size: int, seed: int = 0) -> None:
        super().__init__(seed)
        self.size = size

    def __iter__(self) -> Iterator[int]:
        yield from torch.randperm(self.size, generator=self.generator()).tolist()

    def __len__(self) -> int:
        return self.size


class RandomWindowSampler(EpochSeededSampler):
    """`num_samples` window starts drawn uniformly from [0, num_starts): nanoGPT's `get_batch`, anew each
    epoch; every DDP rank draws the same stream (Lightning shards it)."""

    def __init__(self, num_starts: int, num_samples: int, seed: int = 0) -> None:
        super().__init__(seed)
        self.num_starts = num_starts
        self.num_samples = num_samples

    def __iter__(self) -> Iterator[int]:
        yield from torch.randint(self.num_starts, (self.num_samples,), generator=self.generator()).tolist()

    def __len__(self) -> int:
        return self.num_samples
