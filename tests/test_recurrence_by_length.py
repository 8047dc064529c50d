"""The unpacked CPU recurrence gives the packed run's states, final states and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlpzoo.models.recurrence_by_length import recur_by_length

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def packed_reference(
    rnn: nn.RNNBase, inputs: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    states, final = rnn(packed)
    padded, _ = pad_packed_sequence(states, batch_first=True, total_length=inputs.shape[1])
    return padded, final[0] if isinstance(final, tuple) else final


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(("layers", "bidirectional"), [(1, True), (2, True), (2, False)])
def test_matches_packed_sequences(cell: str, layers: int, bidirectional: bool) -> None:
    torch.manual_seed(0)
    rnn = CELLS[cell](5, 7, num_layers=layers, bidirectional=bidirectional, batch_first=True).eval()
    lengths = torch.tensor([6, 1, 4, 6, 3])
    mask = (torch.arange(6) < lengths[:, None]).long()
    inputs = torch.randn(5, 6, 5, requires_grad=True)
    ours, ours_final = recur_by_length(rnn, inputs, mask)
    (ours.square().sum() + ours_final.sum()).backward()
    our_grads = [inputs.grad.clone(), *(p.grad.clone() for p in rnn.parameters())]
    inputs.grad = None
    rnn.zero_grad()
    reference, reference_final = packed_reference(rnn, inputs, lengths)
    (reference.square().sum() + reference_final.sum()).backward()
    reference_grads = [inputs.grad, *(p.grad for p in rnn.parameters())]
    torch.testing.assert_close(ours, reference)
    assert (
        ours[~mask.bool()].abs().max() == 0
    )  # padded positions are zero, as pad_packed_sequence leaves them
    torch.testing.assert_close(ours_final, reference_final)
    for got, expected in zip(our_grads, reference_grads, strict=True):
        torch.testing.assert_close(got, expected)
