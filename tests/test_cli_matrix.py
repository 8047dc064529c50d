"""The family x task matrix through the CLI, as a user types it:

    python train.py data=NAME data.path=LOCAL_COPY model=FAMILY debug=fdr

with no other override, one subprocess per row. Every data config of conf/data has a fast row (a
cheap family; these run in CI); the other families that serve its task are slow rows. Pretrained
architectures without weights here add only `model.from_config=true` (tiny, offline, run with an
empty hub cache).

The matrix is data: add a row to ROWS. Data configs without a local copy (hub only) get a tiny one
in their format, written by TINY_COPIES.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CONF, SHARED_DATA

FROM_CONFIG = ("model.from_config=true",)  # a pretrained architecture without weights: tiny, random


@dataclass(frozen=True)
class Row:
    data: str  # conf/data/<data>.yaml
    family: str  # conf/model/<family>.yaml
    copy: str | None  # a folder under ../shared/data; None: the tiny copy TINY_COPIES writes
    extra: tuple[str, ...] = ()  # only FROM_CONFIG (and model.peft=lora where the task needs it)
    slow: bool = False

    @property
    def id(self) -> str:
        return f"{self.data}-{self.family}"


def tiny_cnn_dailymail(folder: Path) -> None:
    row = {
        "article": "The council met on Monday and approved the new park budget.",
        "highlights": "Park budget approved.",
    }
    for split in ("train", "validation", "test"):
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps({**row, "id": str(i)}) for i in range(8)))


def tiny_mnli(folder: Path) -> None:
    rows = [
        {"premise": "A man plays a guitar.", "hypothesis": "A man makes music.", "label": 0},
        {"premise": "A man plays a guitar.", "hypothesis": "The man is famous.", "label": 1},
        {"premise": "A man plays a guitar.", "hypothesis": "A man is sleeping.", "label": 2},
    ]
    for split in ("train", "validation_matched", "test"):
        with gzip.open(folder / f"{split}.jsonl.gz", "wt") as handle:
            handle.write("\n".join(json.dumps(row) for row in rows * 4))


def tiny_preference(folder: Path) -> None:
    rows = [
        {"prompt": "The film was", "chosen": " a warm, funny delight.", "rejected": " a dull mess."},
        {"prompt": "Its actors", "chosen": " shine in every scene.", "rejected": " sleepwalk through it."},
    ]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(row) for row in rows * 8))


TINY_COPIES: dict[str, Callable[[Path], None]] = {
    "cnn_dailymail": tiny_cnn_dailymail,
    "mnli": tiny_mnli,
    "preference": tiny_preference,
}

ROWS: list[Row] = [
    # text classification
    Row("sst2", "lstm", "sst2"),
    Row("sst2_local", "gru", "sst2"),
    Row("sst2", "rnn", "sst2", slow=True),
    Row("sst2", "transformer_encoder", "sst2", slow=True),
    Row("sst2", "minilm", "sst2", slow=True),  # real pretrained weights, its own tokenizer
    Row("sst2", "bert", "sst2", FROM_CONFIG, slow=True),
    Row("sst2", "gpt2", "sst2", FROM_CONFIG, slow=True),
    Row("sst2", "t5", "sst2", FROM_CONFIG, slow=True),
    # token classification
    Row("conll2003", "lstm", "conll2003"),
    Row("conll2003", "bilstm_crf", "conll2003", slow=True),
    Row("conll2003", "transformer_encoder", "conll2003", slow=True),
    Row("conll2003", "roberta", "conll2003", FROM_CONFIG, slow=True),
    # extractive QA
    Row("squad", "transformer_encoder", "squad"),
    Row("squad", "distilbert", "squad", FROM_CONFIG, slow=True),
    # sequence to sequence
    # multi30k and dialogsum: tiny random T5/BART in CI (a from-scratch GRU with a 30k vocabulary
    # takes 4-7 minutes on these texts here); from-scratch seq2seq is cnn_dailymail's fast row.
    Row("multi30k", "t5", "multi30k", FROM_CONFIG),
    Row("multi30k", "seq2seq", "multi30k", slow=True),
    Row("multi30k", "seq2seq_attention", "multi30k", slow=True),
    Row("multi30k", "transformer", "multi30k", slow=True),
    Row("multi30k", "marian", "multi30k", FROM_CONFIG, slow=True),
    Row("dialogsum", "bart", "dialogsum", FROM_CONFIG),
    Row("dialogsum", "seq2seq", "dialogsum", slow=True),
    Row("cnn_dailymail", "seq2seq_attention", None),
    # language modeling
    Row("tinyshakespeare", "gpt", "tinyshakespeare"),
    Row("tinyshakespeare", "char_lstm", "tinyshakespeare", slow=True),
    Row("tinyshakespeare", "lstm", "tinyshakespeare", slow=True),  # bidirectional preset: made causal
    Row("tinyshakespeare", "gpt2", "tinyshakespeare", FROM_CONFIG, slow=True),
    Row("tinyshakespeare", "llama", "tinyshakespeare", FROM_CONFIG, slow=True),
    Row("wikitext2", "rnn", "wikitext-2"),
    Row("wikitext2", "gru", "wikitext-2", slow=True),
    Row("wikitext2", "gpt", "wikitext-2", slow=True),
    Row("wikitext2_mlm", "transformer_encoder", "wikitext-2"),
    Row("wikitext2_mlm", "bert", "wikitext-2", FROM_CONFIG, slow=True),
    # sentence pairs
    Row("stsb", "lstm", "stsb"),
    Row("stsb", "transformer_encoder", "stsb", slow=True),
    Row("stsb", "bert", "stsb", FROM_CONFIG, slow=True),
    Row("sick", "lstm", "sick"),
    Row("sick", "transformer_encoder", "sick", slow=True),
    Row("sick", "gpt2", "sick", FROM_CONFIG, slow=True),
    Row("rte", "gru", "rte"),
    Row("rte", "bert", "rte", FROM_CONFIG, slow=True),
    # rte x t5 (text-to-text): a word vocabulary of RTE cannot spell 'not_entailment'; the run stops
    # before training naming tokenizer=bpe, an override this matrix does not type.
    Row("mnli", "lstm", None),
    # preference pairs (DPO): the reference is the LoRA base with its adapter disabled, so LoRA is required
    Row("preference", "gpt2", None, (*FROM_CONFIG, "model.peft=lora")),
    Row("preference", "llama", None, (*FROM_CONFIG, "model.peft=lora"), slow=True),
    # word embeddings (the corpus ships with gensim: its config names it, no data.path)
    Row("text8_head500", "word2vec", "gensim"),
    Row("text8_head500", "cbow", "gensim", slow=True),
    Row("text8_head500", "fasttext", "gensim", slow=True),
    Row("text8_head500", "glove", "gensim", slow=True),
]


def params() -> list[pytest.param]:
    return [pytest.param(row, id=row.id, marks=[pytest.mark.slow] if row.slow else []) for row in ROWS]


def test_every_data_config_has_a_fast_row() -> None:
    configs = {path.stem for path in (CONF / "data").glob("*.yaml")}
    assert configs == {row.data for row in ROWS if not row.slow}
    assert all(row.copy in (None, "gensim") or (SHARED_DATA / row.copy).is_dir() for row in ROWS)


@pytest.mark.parametrize("row", params())
def test_train_py_runs_as_typed(row: Row, train_script: Callable[..., object], tmp_path: Path) -> None:
    if row.copy is None:
        copy = tmp_path / row.data
        copy.mkdir()
        TINY_COPIES[row.data](copy)
    else:
        copy = SHARED_DATA / row.copy
    path = [] if row.copy == "gensim" else [f"data.path={copy}"]
    # from_config never reaches the hub: an empty hub cache (and HF_HUB_OFFLINE=1) must do
    env = {"HF_HUB_CACHE": str(tmp_path / "empty-hub-cache")} if FROM_CONFIG[0] in row.extra else None
    overrides = [f"data={row.data}", *path, f"model={row.family}", "debug=fdr", *row.extra]
    result = train_script(overrides, tiny=False, env=env)
    assert result.returncode == 0, result.log
    summary = json.loads(Path(re.search(r"^summary: (.+)$", result.stdout, re.M).group(1)).read_text())
    assert summary["global_steps"] == 1, result.log
    assert any(name.startswith("val/") for name in summary["metrics"]), result.log
