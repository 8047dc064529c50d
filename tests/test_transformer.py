"""The from-scratch Transformer: causality, masking, norms, positions."""

from __future__ import annotations

import pytest
import torch

from nlpzoo.models.gpt import GPT
from nlpzoo.models.transformer import TransformerConfig, sinusoidal_table
from nlpzoo.models.transformer_encoder import TransformerEncoder


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
@pytest.mark.parametrize("pre_norm", [True, False])
def test_gpt_output_at_t_ignores_tokens_after_t(positions: str, pre_norm: bool) -> None:
    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=30,
        max_length=12,
        dim=32,
        heads=4,
        layers=2,
        dropout=0.0,
        positions=positions,
        pre_norm=pre_norm,
    )
    gpt = GPT(config).eval()
    tokens = torch.randint(0, 30, (2, 12))
    changed = tokens.clone()
    changed[:, 7:] = torch.randint(0, 30, (2, 5))
    before, after = gpt(tokens), gpt(changed)
    torch.testing.assert_close(before[:, :7], after[:, :7])
    assert not torch.allclose(before[:, 7:], after[:, 7:])


def test_encoder_states_of_real_tokens_ignore_padding() -> None:
    torch.manual_seed(0)
    encoder = TransformerEncoder(
        TransformerConfig(vocab_size=30, max_length=10, dim=32, heads=4, dropout=0.0), 0
    )
    encoder.eval()
    tokens = torch.randint(1, 30, (1, 10))
    mask = torch.tensor([[1] * 6 + [0] * 4])
    other_padding = tokens.clone()
    other_padding[:, 6:] = torch.randint(1, 30, (1, 4))
    torch.testing.assert_close(encoder(tokens, mask)[:, :6], encoder(other_padding, mask)[:, :6])


def test_sinusoidal_positions_follow_the_paper() -> None:
    table = sinusoidal_table(50, 8)
    position, i = 7, 1
    angle = position / 10_000 ** (2 * i / 8)
    torch.testing.assert_close(table[position, 2 * i], torch.tensor(angle).sin())
    torch.testing.assert_close(table[position, 2 * i + 1], torch.tensor(angle).cos())


def test_gpt_ties_its_output_head_to_the_embeddings() -> None:
    gpt = GPT(TransformerConfig(vocab_size=30, max_length=8, dim=16, heads=2))
    assert gpt.lm_head.weight is gpt.embeddings.tokens.weight


def test_gpt_without_bias_has_none_in_its_layer_norms_either() -> None:
    """nanoGPT's bias=False drops the bias of every Linear and LayerNorm: only weights remain."""
    gpt = GPT(TransformerConfig(vocab_size=30, max_length=8, dim=16, heads=2, bias=False))
    names = [name for name, _ in gpt.named_parameters()]
    assert "stack.final_norm.weight" in names and not [n for n in names if n.endswith("bias")]
    with_bias = GPT(TransformerConfig(vocab_size=30, max_length=8, dim=16, heads=2, bias=True))
    assert "stack.final_norm.bias" in dict(with_bias.named_parameters())


def test_xavier_init_draws_every_matrix_from_glorots_range() -> None:
    from nlpzoo.models.transformer_seq2seq import EncoderDecoderTransformer

    config = TransformerConfig(vocab_size=500, max_length=10, dim=32, heads=4, layers=1, positions="learned")
    net = EncoderDecoderTransformer(
        config, config, shared_embeddings=False, tie_embeddings=False, init="xavier"
    )
    for name, parameter in net.named_parameters():
        if parameter.dim() > 1:
            bound = (6 / sum(parameter.shape)) ** 0.5
            assert parameter.abs().max() <= bound, name
            assert parameter.abs().max() > 0.8 * bound, name  # uniform over the whole range, not normal(0.02)
