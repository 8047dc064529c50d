"""Masked helpers shared by the families and the tagging objective: mean pooling, tagged positions."""

from __future__ import annotations

import torch

from nlpzoo.models.heads import chained_positions, masked_mean
from nlpzoo.tasks import IGNORE_INDEX
from nlpzoo.tasks.token_classification import tagged_positions


def test_masked_mean_averages_real_tokens_and_gives_zeros_for_a_row_without_any() -> None:
    states = torch.tensor([[[1.0, 2.0], [3.0, 6.0], [50.0, 50.0]], [[7.0, 7.0], [8.0, 8.0], [9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    for dtype in (torch.float32, torch.float16):  # an epsilon clamp (1e-9) is 0 in float16: 0/0
        pooled = masked_mean(states.to(dtype), mask)  # (B, H)
        assert pooled.dtype == dtype
        assert pooled.float().tolist() == [[2.0, 4.0], [0.0, 0.0]]


def test_tagged_positions_are_labels_then_first_subwords_then_real_tokens() -> None:
    attention = torch.tensor([[1, 1, 1, 0]])
    first = torch.tensor([[0, 1, 0, 0]])
    labels = torch.tensor([[IGNORE_INDEX, 2, 3, IGNORE_INDEX]])
    batch = {"attention_mask": attention, "first_subword_mask": first, "labels": labels}
    assert tagged_positions(batch).tolist() == [[False, True, True, False]]
    assert tagged_positions({**batch, "labels": None}).tolist() == [[False, True, False, False]]
    assert tagged_positions({"attention_mask": attention}).tolist() == [[True, True, True, False]]
    # The CRF chains the same positions, and at least one step in a row without tags.
    unlabelled = {"attention_mask": attention, "labels": torch.full((1, 4), IGNORE_INDEX)}
    assert chained_positions(unlabelled).tolist() == [[True, False, False, False]]
