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


class EpochShuffleSampler(Sampler[int]):
    """A random order that depends only on (seed, epoch), never on the global generator.

    So dropout is the only consumer of the global RNG during training, and a run resumed from a
    checkpoint (with `RngStateCheckpoint`) shuffles exactly as the uninterrupted run did.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        yield from torch.randperm(self.size, generator=generator).tolist()

    def __len__(self) -> int:
        return self.size


class RandomWindowSampler(Sampler[int]):
    """`num_samples` window starts drawn uniformly from [0, num_starts): nanoGPT's `get_batch`.

    Drawn anew each epoch from (seed, epoch) alone, never from the global generator, so a resumed run
    draws what the uninterrupted one did and every DDP rank the same stream (Lightning shards it).
    """

    def __init__(self, num_starts: int, num_samples: int, seed: int = 0) -> None:
        self.num_starts = num_starts
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        yield from torch.randint(self.num_starts, (self.num_samples,), generator=generator).tolist()

    def __len__(self) -> int:
        return self.num_samples
