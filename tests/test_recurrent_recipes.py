"""The recurrent recipes' options (word dropout, digits read as 0) and their carrying over to a user's data:
the SST-2 recipe, pointed at a small 4-class file with other column names, trains until early stopping."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from nlpzoo.data.readers import read_conll
from nlpzoo.models.recurrent import RecurrentEncoder
from nlpzoo.tasks.tagging import convert_tags
from nlpzoo.tokenizers import WordTokenizer
from nlpzoo.training import run_training
from tests.conftest import compose_config

UNK, PAD = 1, 0


def encoder(word_dropout: float) -> RecurrentEncoder:
    return RecurrentEncoder(50, PAD, "lstm", 8, 8, 1, True, 0.0, word_dropout=word_dropout, unk_token_id=UNK)


def test_word_dropout_reads_real_words_as_unknown_while_training_only() -> None:
    model = encoder(word_dropout=1.0)
    ids = torch.tensor([[5, 6, 7], [8, 9, PAD]])
    mask = (ids != PAD).long()
    seen = []
    model.embedding.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].clone()))
    model.train()
    model(ids, mask)
    assert seen[-1].tolist() == [[UNK, UNK, UNK], [UNK, UNK, PAD]]  # padding stays padding
    model.eval()
    model(ids, mask)
    assert torch.equal(seen[-1], ids)


def test_word_dropout_needs_an_unknown_token() -> None:
    from nlpzoo.errors import ConfigError

    with pytest.raises(ConfigError, match="word_dropout"):
        RecurrentEncoder(50, PAD, "lstm", 8, 8, 1, True, 0.0, word_dropout=0.1, unk_token_id=None)


def test_embedding_init_std_draws_small_word_vectors_and_keeps_padding_zero() -> None:
    torch.manual_seed(0)
    default = RecurrentEncoder(2000, PAD, "lstm", 64, 8, 1, True, 0.0).embedding.weight
    small = RecurrentEncoder(2000, PAD, "lstm", 64, 8, 1, True, 0.0, embedding_init_std=0.1).embedding.weight
    assert abs(default.std().item() - 1.0) < 0.02  # PyTorch's N(0, 1) unless asked
    assert abs(small.std().item() - 0.1) < 0.005
    assert torch.count_nonzero(small[PAD]) == 0


def test_attention_pooling_ignores_padding_and_weights_real_tokens() -> None:
    from nlpzoo.models.recurrent import AttentionPooling

    torch.manual_seed(0)
    pooling = AttentionPooling(6)
    states = torch.randn(2, 4, 6)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    padded = states.clone()
    padded[0, 2:] = 1e4  # whatever sits at padded positions must not move the sentence vector
    pooled = pooling(padded, mask)
    assert torch.allclose(pooled[0], pooling(states[:1, :2], mask[:1, :2])[0], atol=1e-5)
    assert torch.allclose(pooled[1], pooling(states, mask)[1])
    inside = states[0, :2]  # a convex combination of the real states: within their range
    assert bool(
        ((pooled[0] >= inside.min(0).values - 1e-6) & (pooled[0] <= inside.max(0).values + 1e-6)).all()
    )


def test_zero_digits_give_numbers_of_one_shape_one_id() -> None:
    tokenizer = WordTokenizer(lowercase=False, zero_digits=True).build(["in 1996 and 2003 , 12 : 7"])
    ids = tokenizer(["1996", "2003", "1850", "37"], is_split_into_words=True)["input_ids"]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    assert tokenizer.unk_token_id not in ids


def run_recipe(experiment: str, data: Path, columns: list[str], tmp_path: Path) -> tuple[dict[str, Any], int]:
    """The experiment as a user points it at their data (place and columns only): its summary and epoch cap."""
    quiet = ["trainer.enable_progress_bar=false", "callbacks.rich_progress_bar=null"]
    cfg = compose_config(
        [f"experiment={experiment}", f"data.path={data}", *columns, *quiet], tmp_path / "run"
    )
    return run_training(cfg), cfg.trainer.max_epochs


def four_class_copy(sst2: Path, folder: Path, train_rows: int = 2400, eval_rows: int = 400) -> Path:
    """SST-2 sentences relabelled into 4 classes (sentiment x short/long) under other column names."""
    folder.mkdir()
    sources = {
        "train.tsv": (sst2 / "train.tsv", train_rows),
        "dev.tsv": (sst2 / "dev.tsv", eval_rows),
        "test.tsv": (sst2 / "test.tsv", eval_rows),
    }
    for name, (source, rows) in sources.items():
        with source.open(encoding="utf-8") as handle:
            reader = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        kept = [(label, text) for label, text in reader if len(text.split()) >= 4][:rows]
        with (folder / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
            writer.writerow(["review", "rating"])
            for label, text in kept:
                size = "long" if len(text.split()) > 12 else "short"
                writer.writerow([text, f"{'positive' if label == '1' else 'negative'}-{size}"])
    return folder


@pytest.mark.slow
def test_sst2_recipe_carries_over_to_a_small_four_class_dataset(tmp_path: Path, shared_data: Path) -> None:
    """Only the data's place and columns change; the recipe trains past a fixed small epoch count and stops
    on its own when validation accuracy stops improving, well above the 25% of guessing."""
    data = four_class_copy(shared_data / "sst2", tmp_path / "reviews")
    columns = ["data.text_column=review", "data.label_column=rating", "data.label_names=null"]
    summary, cap = run_recipe("sst2_lstm", data, columns, tmp_path)
    assert summary["config"]["model"]["embedding_dim"] == 300  # the recipe itself, not a shrunk copy
    assert 3 < summary["epochs"] < cap - 1, summary["epochs"]  # early stopping ended it, not the cap
    assert summary["metrics"]["val/acc"] > 0.4


def iob2_jsonl_copy(conll: Path, folder: Path, train_rows: int = 600, eval_rows: int = 200) -> Path:
    """A slice of CoNLL-2003 as JSON Lines with other column names and the IOB2 scheme (the files are IOBES)."""
    folder.mkdir()
    for name, source, rows in (
        ("train", "eng.train", train_rows),
        ("validation", "eng.testa", eval_rows),
        ("test", "eng.testb", eval_rows),
    ):
        sentences = read_conll(conll / source).select(range(rows))
        with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for row in sentences:
                handle.write(
                    json.dumps({"words": row["tokens"], "labels": convert_tags(row["tags"], "iob2")}) + "\n"
                )
    return folder


@pytest.mark.slow
def test_conll_recipe_carries_over_to_a_small_iob2_jsonl_dataset(tmp_path: Path, shared_data: Path) -> None:
    """A twentieth of CoNLL-2003 in another format, scheme and column names: the BiLSTM-CRF recipe trains
    until validation F1 stops improving (not to its epoch cap) and finds entities."""
    data = iob2_jsonl_copy(shared_data / "conll2003", tmp_path / "ner")
    summary, cap = run_recipe(
        "conll_bilstm_crf", data, ["data.tokens_column=words", "data.tags_column=labels"], tmp_path
    )
    assert summary["config"]["model"]["char_features"] and summary["config"]["tokenizer"]["zero_digits"]
    assert 5 < summary["epochs"] < cap - 1, summary["epochs"]
    assert summary["metrics"]["test/f1"] > 0.3


def test_step_profile_splits_a_recipe_step_into_its_phases(shared_data: Path) -> None:
    from benchmarks.step_profile import PHASES, profile_steps

    overrides = [
        "experiment=sst2_lstm",
        f"data.path={shared_data / 'sst2'}",
        "data.max_train_samples=64",
        "data.max_val_samples=16",
        "data.max_test_samples=16",
        "model.embedding_dim=8",
        "model.hidden_size=8",
    ]
    report = profile_steps(overrides, steps=3, warmup=1)
    assert set(report["ms_per_step"]) == set(PHASES) and report["ms_per_step"]["backward"] > 0
    assert report["steps_per_epoch"] == 1 and 0 <= report["padding_fraction"] < 1


@pytest.mark.parametrize("attention", ["additive", "multiplicative"])
def test_attention_projects_the_source_once_per_sentence_not_per_decoder_step(attention: str) -> None:
    from nlpzoo.models.seq2seq import AdditiveAttention, Decoder

    torch.manual_seed(0)
    decoder = Decoder(30, PAD, "gru", 8, 6, 1, 0.0, attention, tie_embeddings=True).eval()  # type: ignore[arg-type]
    memory, mask = torch.randn(2, 5, 12), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    key_calls = []
    decoder.attention.key.register_forward_hook(lambda *args: key_calls.append(1))  # type: ignore[union-attr]
    state = decoder.initial_state(memory, mask, torch.randn(2, 1, 6))
    previous = torch.tensor([3, 4])
    for _ in range(4):
        _, state, weights = decoder(previous, state)
    assert len(key_calls) == 1  # four decoder steps, one projection of the source
    assert weights is not None and torch.allclose(weights.sum(-1), torch.ones(2))
    assert torch.all(weights[1, 3:] == 0)  # padding is never attended
    if isinstance(decoder.attention, AdditiveAttention):  # the projection is Bahdanau's W_k k + b itself
        query = torch.randn(2, 6)
        _, got = decoder.attention(query, memory, decoder.attention.project_keys(memory), torch.ones(2, 5))
        a = decoder.attention
        expected = a.v(torch.tanh(a.query(query).unsqueeze(1) + a.key(memory))).squeeze(-1).softmax(-1)
        assert torch.allclose(got, expected)


def test_untied_attention_model_has_the_reference_notebooks_parameters() -> None:
    """bentrevett/pytorch-seq2seq notebook 3 prints 20,518,405 parameters for its Multi30k vocabularies
    (7,853 German, 5,893 English words): the same layers, no bottleneck before the prediction."""
    from nlpzoo.models.seq2seq import Seq2SeqModel
    from nlpzoo.tasks import TaskKind, TaskSpec

    spec = TaskSpec(kind=TaskKind.SEQ2SEQ, vocab_size=7853, target_vocab_size=5893, pad_token_id=1)
    model = Seq2SeqModel(spec, embedding_dim=256, hidden_size=512, attention="additive", tie_embeddings=False)
    assert sum(p.numel() for p in model.parameters()) == 20_518_405
    assert model.decoder.output.in_features == 512 + 2 * 512 + 256  # notebook 3's fc_out


def test_recurrent_translation_drops_only_the_embeddings() -> None:
    """As the reference: the memory the decoder attends to and the prediction's input are not dropped."""
    from nlpzoo.models.seq2seq import Seq2SeqModel
    from nlpzoo.tasks import TaskKind, TaskSpec

    spec = TaskSpec(kind=TaskKind.SEQ2SEQ, vocab_size=20, target_vocab_size=15, pad_token_id=PAD)
    model = Seq2SeqModel(spec, embedding_dim=8, hidden_size=6, attention="additive", dropout=0.5).train()
    dropped: list[int] = []
    for dropout in (model.encoder.dropout, model.decoder.dropout):
        dropout.register_forward_hook(lambda module, args, out: dropped.append(args[0].shape[-1]))
    batch = {
        "input_ids": torch.tensor([[3, 4, 5], [6, 7, PAD]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]),
    }
    model.teacher_forced(torch.tensor([[2, 5, 6], [2, 7, 8]]), model.encode(batch))
    assert dropped == [8] * 4  # the source embeddings once, the target embedding at each of 3 steps


def test_init_std_draws_every_weight_small_and_zeroes_the_biases() -> None:
    """model.init_std is notebook 3's init_weights: N(0, std) weights (the tied output layer's too), zero biases."""
    from nlpzoo.errors import ConfigError
    from nlpzoo.models.seq2seq import Seq2SeqModel
    from nlpzoo.tasks import TaskKind, TaskSpec

    torch.manual_seed(0)
    spec = TaskSpec(kind=TaskKind.SEQ2SEQ, vocab_size=300, target_vocab_size=200, pad_token_id=PAD)
    model = Seq2SeqModel(spec, embedding_dim=32, hidden_size=48, attention="additive", init_std=0.01)
    for name, parameter in model.named_parameters():
        if "weight" in name:
            assert 0.008 < parameter.std().item() < 0.012, name
        else:
            assert torch.all(parameter == 0), name
    assert model.decoder.output.weight is model.decoder.embedding.weight
    with pytest.raises(ConfigError, match="init_std"):
        Seq2SeqModel(spec, init_std=0.0)
