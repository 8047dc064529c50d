"""A from-scratch family lists each hyper-parameter once, in its config dataclass: the preflight accepts
exactly those keys, the checkpoint saves them all, and one new field is a new hyper-parameter."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from nlpzoo.config import accepted_parameters
from nlpzoo.models.base import ZooModule
from nlpzoo.models.fasttext import FastText
from nlpzoo.models.glove import GloVe
from nlpzoo.models.gpt import GPTModel
from nlpzoo.models.heads import SentenceHead, SiamesePairHead, SpanHead, TokenTaggingHead, task_head
from nlpzoo.models.recurrent import RecurrentConfig, RecurrentModel
from nlpzoo.models.seq2seq import Seq2SeqModel
from nlpzoo.models.transformer_encoder import TransformerEncoderModel
from nlpzoo.models.transformer_seq2seq import TransformerSeq2SeqModel
from nlpzoo.models.word2vec import Word2Vec
from nlpzoo.tasks import TaskKind, TaskSpec

SHARED = {"spec", "optimizer", "scheduler", "objective"}


@pytest.mark.parametrize(
    "family",
    [
        GPTModel,
        RecurrentModel,
        Seq2SeqModel,
        TransformerEncoderModel,
        TransformerSeq2SeqModel,
        Word2Vec,
        FastText,
        GloVe,
    ],
)
def test_the_config_fields_are_the_keys_a_run_may_set(family: type[ZooModule]) -> None:
    parameters, open_ended = accepted_parameters(family)
    assert not open_ended
    assert set(parameters) == SHARED | {field.name for field in fields(family.config_class)}


@dataclass
class WiderConfig(RecurrentConfig):
    head_width: int = 3  # the one edit that adds a hyper-parameter


class WiderRecurrent(RecurrentModel):
    config_class = WiderConfig


def test_a_new_config_field_is_checked_saved_and_rebuilt() -> None:
    spec = TaskSpec(kind=TaskKind.TEXT_CLASSIFICATION, vocab_size=20, label_names=["a", "b"])
    assert "head_width" in accepted_parameters(WiderRecurrent)[0]
    module = WiderRecurrent(spec, hidden_size=8, embedding_dim=8, head_width=5)
    assert module.config.head_width == 5
    assert module.hparams["head_width"] == 5 and module.hparams["hidden_size"] == 8
    assert WiderRecurrent(**module.hparams).config == module.config
    with pytest.raises(TypeError, match="head_widht"):
        WiderRecurrent(spec, head_widht=5)


@pytest.mark.parametrize(
    ("kind", "pair_encoding", "head"),
    [
        (TaskKind.TOKEN_CLASSIFICATION, None, TokenTaggingHead),
        (TaskKind.EXTRACTIVE_QA, None, SpanHead),
        (TaskKind.TEXT_CLASSIFICATION, None, SentenceHead),
        (TaskKind.NLI, "cross", SentenceHead),
        (TaskKind.NLI, "bi", SiamesePairHead),
        (TaskKind.SENTENCE_SIMILARITY, "bi", SiamesePairHead),
    ],
)
def test_task_head_is_the_head_of_the_kind(kind: TaskKind, pair_encoding: str | None, head: type) -> None:
    spec = TaskSpec(kind=kind, vocab_size=20, label_names=["a", "b", "c"], pair_encoding=pair_encoding)
    assert type(task_head(spec, 8)) is head
