"""Autoregressive decoding shared by every generating family: greedy, beam search, sampling.

A model exposes one `step(tokens, state) -> (logits, state)`: given the tokens generated so far
(N, t) and its decoder state (a dict of tensors whose first dimension is N), the logits of the
next token (N, V). These functions do the search; beam search reorders the state's rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from nlpzoo.tasks import Batch, TaskSpec

State = dict[str, torch.Tensor]
StepFunction = Callable[[torch.Tensor, State], tuple[torch.Tensor, State]]


def reorder(state: State, rows: torch.Tensor) -> State:
    """Select (and repeat) rows of every state tensor: the beams that survive a step."""
    return {key: value.index_select(0, rows) for key, value in state.items()}


def pad_after_eos(tokens: torch.Tensor, eos_id: int, pad_id: int) -> torch.Tensor:
    """(B, L) tokens with everything after the first end-of-sequence token set to padding."""
    after = (tokens == eos_id).long().cumsum(1) - (tokens == eos_id).long() > 0  # (B, L)
    return tokens.masked_fill(after, pad_id)


@torch.no_grad()
def greedy_search(
    step: StepFunction, state: State, bos_id: int, eos_id: int, pad_id: int, max_length: int
) -> torch.Tensor:
    """The most likely token at each step: (B, <= max_length) ids, padded after end-of-sequence."""
    batch = next(iter(state.values())).shape[0]
    device = next(iter(state.values())).device
    tokens = torch.full((batch, 1), bos_id, dtype=torch.long, device=device)  # (B, 1)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    for _ in range(max_length):
        logits, state = step(tokens, state)  # (B, V)
        next_token = logits.argmax(-1).masked_fill(finished, eos_id)  # (B,)
        tokens = torch.cat([tokens, next_token.unsqueeze(1)], dim=1)
        finished |= next_token == eos_id
        if finished.all():
            break
    return pad_after_eos(tokens[:, 1:], eos_id, pad_id)


@torch.no_grad()
def beam_search(
    step: StepFunction,
    state: State,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    max_length: int,
    beam_size: int = 4,
    length_penalty: float = 1.0,
) -> torch.Tensor:
    """The best of `beam_size` hypotheses per input, ranked by log-probability / length**length_penalty.

    state rows (B, ...) -> (B, <= max_length) ids, padded after end-of-sequence. A finished
    hypothesis keeps its score and extends only with end-of-sequence tokens at no cost.
    """
    batch = next(iter(state.values())).shape[0]
    device = next(iter(state.values())).device
    rows = torch.arange(batch, device=device).repeat_interleave(beam_size)  # (B*K,)
    state = reorder(state, rows)
    tokens = torch.full((batch * beam_size, 1), bos_id, dtype=torch.long, device=device)  # (B*K, 1)
    scores = torch.full((batch, beam_size), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: keep one alive, or the first step picks K copies
    finished = torch.zeros(batch * beam_size, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch * beam_size, device=device)
    for _ in range(max_length):
        logits, state = step(tokens, state)  # (B*K, V)
        log_probs = logits.float().log_softmax(-1)
        vocab = log_probs.shape[-1]
        frozen = torch.full_like(log_probs, float("-inf"))
        frozen[:, eos_id] = 0.0
        log_probs = torch.where(finished.unsqueeze(1), frozen, log_probs)
        total = (scores.view(-1, 1) + log_probs).view(batch, beam_size * vocab)  # (B, K*V)
        scores, flat = total.topk(beam_size, dim=-1)  # (B, K)
        origin = (torch.arange(batch, device=device).unsqueeze(1) * beam_size + flat // vocab).view(
            -1
        )  # (B*K,)
        next_token = (flat % vocab).view(-1)  # (B*K,)
        tokens = torch.cat([tokens.index_select(0, origin), next_token.unsqueeze(1)], dim=1)
        state = reorder(state, origin)
        lengths = lengths.index_select(0, origin) + (~finished.index_select(0, origin)).float()
        finished = finished.index_select(0, origin) | (next_token == eos_id)
        if finished.all():
            break
    normalized = scores / lengths.view(batch, beam_size).clamp(min=1.0) ** length_penalty  # (B, K)
    best = torch.arange(batch, device=device) * beam_size + normalized.argmax(-1)  # (B,)
    return pad_after_eos(tokens.index_select(0, best)[:, 1:], eos_id, pad_id)


def filter_logits(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """(N, V) logits scaled by temperature, with all but the top-k / the top-p nucleus set to -inf."""
    logits = logits.float() / max(temperature, 1e-6)
    if top_k is not None and top_k > 0:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (N, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the tokens ranked above it already cover top_p (the best one always stays).
        drop_sorted = cumulative - sorted_logits.softmax(-1) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def sample(
    step: StepFunction,
    state: State,
    prompt: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue `prompt` (B, T) by sampling from the filtered distribution; returns (B, T + new).

    `temperature=0` takes the most likely token each step (greedy), with no randomness.
    """
    tokens = prompt
    for _ in range(max_new_tokens):
        logits, state = step(tokens, state)  # (B, V)
        if temperature == 0:
            next_token = logits.argmax(-1, keepdim=True)  # (B, 1)
        else:
            probabilities = filter_logits(logits, temperature, top_k, top_p).softmax(-1)
            next_token = torch.multinomial(probabilities, 1, generator=generator)  # (B, 1)
        tokens = torch.cat([tokens, next_token], dim=1)
        if eos_id is not None and bool((tokens == eos_id).any(1).all()):
            break
    return tokens


def search(
    step: StepFunction,
    state: State,
    spec: TaskSpec,
    max_length: int,
    beam_size: int = 1,
    length_penalty: float = 1.0,
) -> torch.Tensor:
    """Greedy search when `beam_size` is 1, beam search otherwise, with the spec's special token ids."""
    start, pad = decoder_start_id(spec), target_pad_id(spec)
    eos = spec.eos_token_id if spec.eos_token_id is not None else pad
    if beam_size <= 1:
        return greedy_search(step, state, start, eos, pad, max_length)
    return beam_search(step, state, start, eos, pad, max_length, beam_size, length_penalty)


def decoder_start_id(spec: TaskSpec) -> int:
    """The token a decoder starts from: the data's beginning-of-sequence, else padding (as Marian)."""
    return spec.bos_token_id if spec.bos_token_id is not None else target_pad_id(spec)


def target_pad_id(spec: TaskSpec) -> int:
    """Padding id of the target side (a separate target tokenizer may pad with another id)."""
    return spec.pad_token_id if spec.target_pad_token_id is None else spec.target_pad_token_id


class LanguageModelSampling:
    """`generate` of a language-model family (GPT, recurrent LM): `sample` through its `decoding_step`."""

    def decoding_step(self, use_cache: bool) -> StepFunction:
        """The family's `step(tokens, state)`; `use_cache=False` may pick one that recomputes the prefix."""
        raise NotImplementedError

    @torch.no_grad()
    def generate(
        self,
        prompt: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Continue prompt ids (B, T) by sampling -> (B, T + max_new_tokens); `temperature=0` is greedy.

        `use_cache=False` recomputes the whole prefix every token (the reference the cache is tested against).
        """
        step = self.decoding_step(use_cache)
        return sample(step, {}, prompt, max_new_tokens, temperature, top_k, top_p, generator=generator)


class Seq2SeqSearch:
    """`generate` of an encoder-decoder family: greedy or beam `search` from its `search_start`, with the
    `beam_size`, `length_penalty` and `max_generate_length` of its config unless a call overrides them."""

    spec: TaskSpec
    config: Any

    def search_start(self, batch: Batch, use_cache: bool) -> tuple[StepFunction, State]:
        """The decoding step and the state of the encoded sources (B, S_src)."""
        raise NotImplementedError

    def generate(
        self,
        batch: Batch,
        beam_size: int | None = None,
        max_length: int | None = None,
        length_penalty: float | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """(B, S_src) sources -> (B, <= max_length) generated target ids (padded after end-of-sequence)."""
        config, spec = self.config, self.spec
        step, state = self.search_start(batch, use_cache)
        default_length = config.max_generate_length or spec.max_target_length or spec.max_length
        return search(
            step,
            state,
            spec,
            max_length or default_length,
            beam_size or config.beam_size,
            config.length_penalty if length_penalty is None else length_penalty,
        )
