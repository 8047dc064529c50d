"""Greedy, beam search and sampling, shared by the seq2seq, Transformer and GPT families."""

from __future__ import annotations

import pytest
import torch

from nlpzoo.models.decoding import beam_search, filter_logits, greedy_search, pad_after_eos
from nlpzoo.models.seq2seq import Decoder, Encoder
from nlpzoo.models.transformer import TransformerConfig
from nlpzoo.models.transformer_seq2seq import EncoderDecoderTransformer

BOS, EOS, PAD = 2, 3, 0


def transformer_step() -> tuple:
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=20, max_length=16, dim=32, heads=4, layers=2, dropout=0.0)
    net = EncoderDecoderTransformer(config, config, shared_embeddings=True).eval()
    source = torch.randint(4, 20, (3, 7))
    return net.step, net.encode(source, torch.ones_like(source))


def padded_translation_model(pre_norm: bool) -> tuple:
    """A tiny encoder-decoder Transformer and three sources of different lengths (right-padded)."""
    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=20, max_length=16, dim=32, heads=4, layers=2, dropout=0.0, pre_norm=pre_norm
    )
    net = EncoderDecoderTransformer(
        config, config, shared_embeddings=False, tie_embeddings=False, init="xavier"
    )
    source = torch.randint(4, 20, (3, 7))
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    return net.eval(), net.encode(source.masked_fill(mask == 0, PAD), mask)


@pytest.mark.parametrize("pre_norm", [True, False])
def test_cached_decoder_step_gives_the_logits_of_recomputing_the_prefix(pre_norm: bool) -> None:
    net, state = padded_translation_model(pre_norm)
    tokens = torch.full((3, 1), BOS)
    cached_state = dict(state)
    for _ in range(6):
        expected, _ = net.step(tokens, state)
        logits, cached_state = net.cached_step(tokens, cached_state)
        torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-4)
        tokens = torch.cat([tokens, torch.randint(4, 20, (3, 1))], dim=1)
    assert cached_state["keys.0"].shape == (3, 4, 6, 8)  # (B, nh, prefix, hs): one token per step
    assert cached_state["memory_keys.1"].shape == (3, 4, 7, 8)  # the memory, projected once


@pytest.mark.parametrize("beam_size", [1, 3])
def test_cached_search_finds_what_recomputing_finds(beam_size: int) -> None:
    net, state = padded_translation_model(pre_norm=True)
    slow = beam_search(net.step, state, BOS, EOS, PAD, max_length=10, beam_size=beam_size)
    fast = beam_search(net.cached_step, state, BOS, EOS, PAD, max_length=10, beam_size=beam_size)
    assert torch.equal(slow, fast)


def recurrent_step(attention: str) -> tuple:
    torch.manual_seed(0)
    encoder = Encoder(20, PAD, "lstm", 16, 16, 1, 0.0)
    decoder = Decoder(20, PAD, "lstm", 16, 16, 1, 0.0, attention, tie_embeddings=True).eval()
    source = torch.randint(4, 20, (3, 7))
    mask = torch.ones_like(source)
    memory, hidden = encoder(source, mask)

    def step(tokens: torch.Tensor, state: dict) -> tuple:
        logits, state, _ = decoder(tokens[:, -1], state)
        return logits, state

    return step, decoder.initial_state(memory, mask, hidden)


@pytest.mark.parametrize("model", ["transformer", "none", "additive", "multiplicative"])
def test_beam_of_one_equals_greedy(model: str) -> None:
    step, state = transformer_step() if model == "transformer" else recurrent_step(model)
    greedy = greedy_search(step, state, BOS, EOS, PAD, max_length=10)
    beam = beam_search(step, state, BOS, EOS, PAD, max_length=10, beam_size=1)
    assert torch.equal(greedy, beam)


def tree_step(tokens: torch.Tensor, state: dict) -> tuple:
    """A hand-made model where greedy is short-sighted: 'a' (0.6) leads to a flat tail, 'b' (0.4) to a sure one."""
    vocab = 6
    logits = torch.full((tokens.shape[0], vocab), -1e4)
    for row, sequence in enumerate(tokens.tolist()):
        if len(sequence) == 1:
            logits[row, 4], logits[row, 5] = torch.tensor(0.6).log(), torch.tensor(0.4).log()
        elif sequence[1] == 4 and len(sequence) == 2:
            logits[row, :4] = torch.tensor(0.25).log()  # four equally likely continuations
        else:
            logits[row, EOS] = 0.0  # after 'b', or after any second token: end
    return logits, state


def test_beam_search_finds_the_sequence_greedy_misses() -> None:
    state = {"memory": torch.zeros(1, 1)}
    greedy = greedy_search(tree_step, state, BOS, EOS, PAD, max_length=4)
    beam = beam_search(tree_step, state, BOS, EOS, PAD, max_length=4, beam_size=2, length_penalty=0.0)
    assert greedy[0, 0].item() == 4  # p = 0.6 * 0.25 = 0.15
    assert beam[0].tolist()[:2] == [5, EOS]  # p = 0.4


def test_tokens_after_end_of_sequence_become_padding() -> None:
    tokens = torch.tensor([[5, EOS, 7, EOS], [5, 6, 7, 8]])
    assert pad_after_eos(tokens, EOS, PAD).tolist() == [[5, EOS, PAD, PAD], [5, 6, 7, 8]]


def test_top_k_and_top_p_keep_only_the_likely_tokens() -> None:
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    assert torch.isfinite(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.7)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.4)).tolist() == [[True, False, False, False]]
    sharp = filter_logits(logits, temperature=0.1).softmax(-1)
    assert sharp[0, 0] > 0.99
