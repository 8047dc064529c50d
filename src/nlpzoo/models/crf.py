"""A linear-chain conditional random field (Lafferty et al. 2001) for sequence tagging.

Batched over sentences: the forward algorithm and Viterbi loop over time steps only, with
every sentence of the batch advanced together and its padding carried through by `mask`.
"""

from __future__ import annotations

import torch
from torch import nn


class CRF(nn.Module):
    """Tag transition scores on top of per-token emission scores; NLL for training, Viterbi for decoding.

    Masks must be left-aligned (real tokens first, then padding) with at least one real token
    per sentence; `left_align` brings any mask (e.g. first-subword labels) into that shape.
    """

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))  # (C,)
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))  # (C,)
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))  # (C from, C to)

    def path_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Unnormalized score of the given tag paths: emissions (B, T, C), tags and mask (B, T) -> (B,)."""
        mask = mask.to(emissions.dtype)
        emitted = emissions.gather(-1, tags.unsqueeze(-1)).squeeze(-1) * mask  # (B, T)
        moved = self.transitions[tags[:, :-1], tags[:, 1:]] * mask[:, 1:]  # (B, T-1)
        last = tags.gather(1, (mask.sum(1).long() - 1).unsqueeze(1)).squeeze(1)  # (B,)
        return self.start_transitions[tags[:, 0]] + emitted.sum(1) + moved.sum(1) + self.end_transitions[last]

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z by the forward algorithm: emissions (B, T, C), mask (B, T) -> (B,)."""
        alpha = self.start_transitions + emissions[:, 0]  # (B, C)
        for t in range(1, emissions.shape[1]):
            # alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + trans[i, j]) + emit_t[j]
            scores = alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1)  # (B, C, C)
            alpha = torch.where(mask[:, t : t + 1], torch.logsumexp(scores, dim=1), alpha)
        return torch.logsumexp(alpha + self.end_transitions, dim=-1)

    def neg_log_likelihood(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Mean over sentences of -log p(tags | emissions): (B, T, C), (B, T), (B, T) -> scalar."""
        emissions = emissions.float()
        mask = mask.bool()
        return (self.log_partition(emissions, mask) - self.path_score(emissions, tags, mask)).mean()

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Viterbi: the highest-scoring tag path, (B, T, C) -> (B, T) tags, 0 at padded positions."""
        emissions = emissions.float()
        mask = mask.bool()
        batch, steps, _ = emissions.shape
        score = self.start_transitions + emissions[:, 0]  # (B, C)
        backpointers = []
        for t in range(1, steps):
            candidates = score.unsqueeze(2) + self.transitions  # (B, C from, C to)
            best, best_from = candidates.max(dim=1)  # (B, C)
            backpointers.append(best_from)
            score = torch.where(mask[:, t : t + 1], best + emissions[:, t], score)
        score = score + self.end_transitions
        lengths = mask.sum(1)  # (B,)
        tags = torch.zeros(batch, steps, dtype=torch.long, device=emissions.device)
        current = score.argmax(-1)  # (B,) tag at each sentence's last real token
        rows = torch.arange(batch, device=emissions.device)
        for t in range(steps - 1, -1, -1):
            # Sentences whose last token lies before t keep `current` untouched until they reach it.
            inside = t <= lengths - 1
            tags[:, t] = torch.where(inside, current, tags[:, t])
            if t > 0:
                current = torch.where(inside, backpointers[t - 1][rows, current], current)
        return tags * mask


def left_align(values: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Move the kept positions of each row to the front, in order.

    values (B, T, ...) and keep (B, T) -> (aligned values (B, T, ...), positions (B, T) of where each
    aligned entry came from, aligned mask (B, T)). Used to run a CRF over first-subword labels only.
    """
    keep = keep.bool()
    # A stable sort of "not kept" puts kept positions first without changing their order.
    positions = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices  # (B, T)
    index = positions.view(*positions.shape, *([1] * (values.dim() - 2))).expand_as(values)
    aligned_mask = torch.arange(keep.shape[1], device=keep.device) < keep.sum(1, keepdim=True)
    return values.gather(1, index), positions, aligned_mask
