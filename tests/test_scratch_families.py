"""Each from-scratch family learns a small synthetic task built with the contract's batch keys, and its
checkpoint reloads to identical outputs. (The real-data runs are in test_family_task_matrix.py.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from nlpzoo.checkpoint import load_module
from nlpzoo.models import (
    GPTModel,
    RecurrentModel,
    Seq2SeqModel,
    TransformerEncoderModel,
    TransformerSeq2SeqModel,
    ZooModule,
)
from nlpzoo.tasks import TaskKind, TaskSpec

PAD, BOS, EOS = 0, 2, 3
VOCAB = 24
FIRST_WORD = 7  # ids below are special tokens


def make_spec(kind: TaskKind, **values: Any) -> TaskSpec:
    return TaskSpec(
        kind=kind,
        vocab_size=VOCAB,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
        max_length=16,
        **values,
    )


def words(batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(FIRST_WORD, VOCAB, (batch, length), generator=generator)


def reversal_batch(generator: torch.Generator, batch: int = 32, length: int = 6) -> dict[str, torch.Tensor]:
    """seq2seq: the target is the source reversed, then end-of-sequence."""
    source = words(batch, length, generator)
    target = torch.cat([source.flip(1), torch.full((batch, 1), EOS)], 1)
    return {
        "input_ids": source,
        "attention_mask": torch.ones_like(source),
        "decoder_input_ids": torch.cat([torch.full((batch, 1), BOS), target[:, :-1]], 1),
        "labels": target,
    }


def lm_batch(generator: torch.Generator, batch: int = 32, length: int = 12) -> dict[str, torch.Tensor]:
    """language modeling: counting upwards from a random start, so every next token is predictable."""
    start = torch.randint(0, VOCAB - FIRST_WORD, (batch, 1), generator=generator)
    ids = FIRST_WORD + (start + torch.arange(length)) % (VOCAB - FIRST_WORD)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}


def tagging_batch(generator: torch.Generator, batch: int = 32, length: int = 8) -> dict[str, torch.Tensor]:
    """token classification: tag 1 on words with an even id, with padding at the end of half the rows."""
    ids = words(batch, length, generator)
    labels = (ids % 2 == 0).long()
    mask = torch.ones_like(ids)
    mask[::2, -3:] = 0
    return {
        "input_ids": ids.masked_fill(mask == 0, PAD),
        "attention_mask": mask,
        "labels": labels.masked_fill(mask == 0, -100),
        "char_ids": torch.stack([ids + 60, ids % 5 + 97], -1).masked_fill((mask == 0).unsqueeze(-1), 0),
    }


def classification_batch(
    generator: torch.Generator, batch: int = 32, length: int = 8
) -> dict[str, torch.Tensor]:
    """text classification: is word FIRST_WORD in the text?"""
    ids = words(batch, length, generator)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": (ids == FIRST_WORD).any(1).long(),
    }


def pair_batch(generator: torch.Generator, batch: int = 32, length: int = 6) -> dict[str, torch.Tensor]:
    """sentence pairs (bi-encoder): similarity 1 for a shuffled copy, 0 for an unrelated text."""
    a = words(batch, length, generator)
    same = torch.rand(batch, generator=generator) < 0.5
    b = torch.where(
        same.unsqueeze(1), a[:, torch.randperm(length, generator=generator)], words(batch, length, generator)
    )
    ones = torch.ones_like(a)
    return {
        "input_ids": a,
        "attention_mask": ones,
        "input_ids_b": b,
        "attention_mask_b": ones,
        "labels": same.float(),
    }


def qa_batch(generator: torch.Generator, batch: int = 32, length: int = 10) -> dict[str, torch.Tensor]:
    """extractive QA: the answer span starts at the one FIRST_WORD token and ends two tokens later."""
    ids = torch.randint(FIRST_WORD + 1, VOCAB, (batch, length), generator=generator)
    start = torch.randint(0, length - 2, (batch,), generator=generator)
    ids[torch.arange(batch), start] = FIRST_WORD
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "start_positions": start,
        "end_positions": start + 2,
    }


TINY_RECURRENT = dict(embedding_dim=32, hidden_size=32, dropout=0.0)
TINY_TRANSFORMER = dict(dim=32, heads=4, dropout=0.0)
CASES: dict[str, tuple[Callable[[], ZooModule], Callable[..., dict[str, torch.Tensor]]]] = {
    "lstm_classification": (
        lambda: RecurrentModel(
            make_spec(TaskKind.TEXT_CLASSIFICATION, label_names=["no", "yes"]), **TINY_RECURRENT
        ),
        classification_batch,
    ),
    "bilstm_crf_chars": (
        lambda: RecurrentModel(
            make_spec(TaskKind.TOKEN_CLASSIFICATION, label_names=["O", "B-X"]),
            crf=True,
            char_features=True,
            char_buckets=64,
            **TINY_RECURRENT,
        ),
        tagging_batch,
    ),
    "lstm_language_model": (
        lambda: RecurrentModel(make_spec(TaskKind.LANGUAGE_MODELING), bidirectional=False, **TINY_RECURRENT),
        lm_batch,
    ),
    "gru_siamese_similarity": (
        lambda: RecurrentModel(
            make_spec(TaskKind.SENTENCE_SIMILARITY, pair_encoding="bi"),
            cell="gru",
            pooling="mean",
            **TINY_RECURRENT,
        ),
        pair_batch,
    ),
    **{
        f"seq2seq_{attention}": (
            lambda attention=attention: Seq2SeqModel(
                make_spec(TaskKind.SEQ2SEQ),
                attention=attention,
                embedding_dim=32,
                hidden_size=32,
                dropout=0.0,
            ),
            reversal_batch,
        )
        for attention in ("none", "additive", "multiplicative")
    },
    "transformer_seq2seq": (
        lambda: TransformerSeq2SeqModel(
            make_spec(TaskKind.SEQ2SEQ),
            encoder_layers=2,
            decoder_layers=2,
            positions="learned",
            beam_size=2,
            **TINY_TRANSFORMER,
        ),
        reversal_batch,
    ),
    "gpt": (lambda: GPTModel(make_spec(TaskKind.LANGUAGE_MODELING), layers=2, **TINY_TRANSFORMER), lm_batch),
    "transformer_encoder_tagging_crf": (
        lambda: TransformerEncoderModel(
            make_spec(TaskKind.TOKEN_CLASSIFICATION, label_names=["O", "B-X"]), crf=True, **TINY_TRANSFORMER
        ),
        tagging_batch,
    ),
    "transformer_encoder_qa": (
        lambda: TransformerEncoderModel(make_spec(TaskKind.EXTRACTIVE_QA), **TINY_TRANSFORMER),
        qa_batch,
    ),
}


def train_steps(module: ZooModule, make_batch: Callable, steps: int, lr: float = 3e-3) -> tuple[float, float]:
    """Loss before and after `steps` Adam steps on fresh synthetic batches (the objective's own loss)."""
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    evaluation = make_batch(torch.Generator().manual_seed(99))
    with torch.no_grad():
        before = module.objective.loss(module(evaluation), evaluation).item()
    for _ in range(steps):
        batch = make_batch(generator)
        loss = module.objective.loss(module(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = module.objective.loss(module(evaluation), evaluation).item()
    return before, after


@pytest.mark.parametrize("case", list(CASES))
def test_family_loss_falls_on_its_task(case: str) -> None:
    torch.manual_seed(0)
    build, make_batch = CASES[case]
    before, after = train_steps(build(), make_batch, steps=100)
    assert after < 0.5 * before, f"{case}: loss {before:.3f} -> {after:.3f}"


@pytest.mark.parametrize("case", list(CASES))
def test_checkpoint_reloads_to_identical_outputs(case: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    build, make_batch = CASES[case]
    module = build()
    loader = DataLoader(
        [make_batch(torch.Generator().manual_seed(i), batch=8) for i in range(3)], batch_size=None
    )
    trainer = L.Trainer(
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, train_dataloaders=loader)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    reloaded = load_module(tmp_path / "model.ckpt").module
    module.eval()
    batch = make_batch(torch.Generator().manual_seed(7), batch=4)
    with torch.no_grad():
        expected, actual = module(batch), reloaded(batch)
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], msg=f"{case}: output '{key}' differs")


def test_seq2seq_returns_attention_weights_that_sum_to_one() -> None:
    module = CASES["seq2seq_additive"][0]().eval()
    batch = reversal_batch(torch.Generator().manual_seed(0), batch=4)
    with torch.no_grad():
        outputs = module(batch)
        generated = outputs["generated_ids"]
        weights = module.attention_map(batch, generated)
    assert outputs["attentions"].shape == (4, 7, 6)  # (batch, target, source)
    torch.testing.assert_close(outputs["attentions"].sum(-1), torch.ones(4, 7))
    assert weights.shape == (4, generated.shape[1], 6)


def test_gpt_samples_continue_the_prompt() -> None:
    module = CASES["gpt"][0]()
    train_steps(module, lm_batch, steps=80)
    module.eval()
    prompt = torch.tensor([[FIRST_WORD, FIRST_WORD + 1, FIRST_WORD + 2]])
    out = module.generate(
        prompt, max_new_tokens=5, temperature=0.5, top_k=3, generator=torch.Generator().manual_seed(0)
    )
    assert out[0, :3].tolist() == prompt[0].tolist()
    assert out[0, 3:].tolist() == list(range(FIRST_WORD + 3, FIRST_WORD + 8))


def bare_trainer(**options: Any) -> L.Trainer:
    """A CPU Trainer with nothing of its own around the fit: no logger, checkpoints, bar or summary."""
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **options,
    )
