"""The CRF against brute force: the forward algorithm's log Z and Viterbi's best path on tiny cases."""

from __future__ import annotations

import itertools

import torch

from nlpzoo.models.crf import CRF, left_align
from nlpzoo.models.heads import TokenTaggingHead


def all_paths(num_tags: int, length: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(num_tags), repeat=length)))  # (C**L, L)


def brute_force(crf: CRF, emissions: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """log Z and the best path of one sentence (T, C) by scoring every path of its first `length` tokens."""
    paths = all_paths(crf.num_tags, length)
    mask = torch.ones_like(paths, dtype=torch.bool)
    scores = crf.path_score(emissions[:length].expand(len(paths), -1, -1), paths, mask)
    return torch.logsumexp(scores, 0), paths[scores.argmax()]


def test_forward_algorithm_and_viterbi_equal_brute_force_on_a_padded_batch() -> None:
    torch.manual_seed(0)
    crf = CRF(num_tags=3)
    emissions = torch.randn(3, 5, 3)  # (B, T, C)
    lengths = torch.tensor([5, 3, 1])
    mask = torch.arange(5) < lengths.unsqueeze(1)
    log_z = crf.log_partition(emissions, mask)
    best = crf.decode(emissions, mask)
    for row, length in enumerate(lengths.tolist()):
        expected_log_z, expected_path = brute_force(crf, emissions[row], length)
        torch.testing.assert_close(log_z[row], expected_log_z)
        assert best[row, :length].tolist() == expected_path.tolist()
        assert best[row, length:].eq(0).all()


def test_nll_is_minus_log_probability_and_probabilities_sum_to_one() -> None:
    torch.manual_seed(1)
    crf = CRF(num_tags=2)
    emissions = torch.randn(1, 4, 2)
    mask = torch.ones(1, 4, dtype=torch.bool)
    paths = all_paths(2, 4)
    nll = torch.stack([crf.neg_log_likelihood(emissions, path.unsqueeze(0), mask) for path in paths])
    torch.testing.assert_close(torch.exp(-nll).sum(), torch.tensor(1.0))


def test_left_align_moves_labelled_positions_first_in_order() -> None:
    values = torch.tensor([[10, 11, 12, 13], [20, 21, 22, 23]])
    keep = torch.tensor([[0, 1, 0, 1], [1, 1, 1, 0]]).bool()
    aligned, positions, mask = left_align(values, keep)
    assert aligned[0, :2].tolist() == [11, 13] and aligned[1, :3].tolist() == [20, 21, 22]
    assert mask.tolist() == [[True, True, False, False], [True, True, True, False]]
    assert positions[0, :2].tolist() == [1, 3]


def test_crf_tagger_learns_a_transition_rule_and_skips_unlabelled_subwords() -> None:
    """Tags alternate 0, 1, 0, ...: the token states are uninformative, only transitions can tell."""
    torch.manual_seed(0)
    head = TokenTaggingHead(hidden_size=4, num_tags=2, crf=True)
    states = torch.zeros(8, 6, 4)  # uninformative token states
    labels = torch.tensor([[0, 1, 1, 0, 1, 0]] * 8)
    labels[:, 2] = -100  # a non-first subword: no label, the chain runs over the others
    batch = {"labels": labels, "attention_mask": torch.ones(8, 6)}
    optimizer = torch.optim.Adam(head.parameters(), lr=0.1)
    first = None
    for _ in range(60):
        loss = head(states, batch, decode=False)["loss"]
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    predictions = head(states, batch, decode=True)["predictions"]
    assert loss.item() < 0.2 * first
    assert predictions[0].tolist() == [0, 1, -100, 0, 1, 0]
