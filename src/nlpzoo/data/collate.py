"""Dynamic padding: each batch is padded to its own longest sequence, never to a global maximum."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch


class PaddingCollator:
    """Stacks a list of examples into a dict of tensors, padding list-valued keys to the batch's longest.

    `pad_values` gives each key's padding value (`input_ids`: the pad id, `labels`: -100, ...);
    keys not listed pad with 0. Scalar keys are stacked; keys in `passthrough` stay Python lists.
    """

    def __init__(self, pad_values: Mapping[str, int | float], passthrough: Sequence[str] = ()) -> None:
        self.pad_values = dict(pad_values)
        self.passthrough = set(passthrough)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = {}
        for key in examples[0]:
            values = [example[key] for example in examples]
            if key in self.passthrough:
                batch[key] = values
            elif isinstance(values[0], (list, tuple, torch.Tensor)):
                batch[key] = pad_sequences(values, self.pad_values.get(key, 0))
            else:
                batch[key] = torch.tensor(values)
        return batch


def pad_sequences(sequences: Sequence[Sequence[int | float]], pad_value: int | float) -> torch.Tensor:
    """(batch, longest) tensor of the sequences, right-padded with `pad_value`."""
    tensors = [torch.as_tensor(s) for s in sequences]
    return torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True, padding_value=pad_value)


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of padded positions when the given batches (lists of example indices) are padded dynamically."""
    padded = real = 0
    for batch in batches:
        batch_lengths = [lengths[i] for i in batch]
        padded += max(batch_lengths) * len(batch_lengths)
        real += sum(batch_lengths)
    return 1.0 - real / padded if padded else 0.0
