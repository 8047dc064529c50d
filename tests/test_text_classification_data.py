"""TextClassificationData on real SST-2 slices and on small files written here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nlpzoo.data import TextClassificationData
from nlpzoo.errors import DataError
from nlpzoo.tokenizers import WordTokenizer


def sst2(shared_data: Path, **options) -> TextClassificationData:
    defaults = dict(
        tokenizer=WordTokenizer(),
        path=str(shared_data / "sst2"),
        text_column=["sentence", "content"],
        label_names=["negative", "positive"],
        max_train_samples=500,
        max_val_samples=100,
        max_test_samples=100,
        batch_size=16,
    )
    datamodule = TextClassificationData(**{**defaults, **options})
    datamodule.setup()
    return datamodule


def test_sst2_slice_serves_dynamically_padded_batches(shared_data: Path) -> None:
    datamodule = sst2(shared_data)
    assert {split: len(d) for split, d in datamodule.splits.items()} == {
        "train": 500,
        "validation": 100,
        "test": 100,
    }
    assert datamodule.spec.label_names == ["negative", "positive"]
    assert datamodule.spec.vocab_size == len(datamodule.tokenizer)
    batch = next(iter(datamodule.val_dataloader()))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    lengths = batch["attention_mask"].sum(1)
    assert batch["input_ids"].shape == (16, int(lengths.max()))  # padded to this batch's longest
    assert torch.all(batch["input_ids"][batch["attention_mask"] == 0] == datamodule.spec.pad_token_id)
    first = datamodule.tokenizer.decode(batch["input_ids"][0][: lengths[0]])
    raw_first = datamodule.load_raw_splits()["validation"][0]["content"]
    assert first.split() == [
        w if w in datamodule.tokenizer.get_vocab() else "[UNK]" for w in raw_first.split()
    ]


def test_length_bucketing_cuts_padding(shared_data: Path) -> None:
    plain = sst2(shared_data, bucket_by_length=False).padding_fraction("train")
    bucketed = sst2(shared_data, bucket_by_length=True).padding_fraction("train")
    assert bucketed < plain / 2
    datamodule = sst2(shared_data, bucket_by_length=True)
    served = sorted(i for b in datamodule.train_sampler().batches() for i in b)
    assert served == list(range(500))  # every example once per epoch


def test_local_csv_and_jsonl_files_with_string_labels(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("review,stars\ngood film,pos\nbad film,neg\ngreat,pos\nawful,neg\n")
    (tmp_path / "dev.csv").write_text("review,stars\nfine film,pos\n")
    datamodule = TextClassificationData(
        tokenizer=WordTokenizer(), path=str(tmp_path), text_column="review", label_column="stars"
    )
    datamodule.setup()
    assert datamodule.spec.label_names == ["neg", "pos"]  # inferred, sorted
    assert len(datamodule.splits["test"]) == 1  # no test file: carved from train
    assert datamodule.splits["validation"]["labels"] == [1]

    jsonl = tmp_path / "one.jsonl"
    jsonl.write_text('{"text": "a b", "label": 0}\n{"text": "c", "label": 1}\n' * 10)
    datamodule = TextClassificationData(tokenizer=WordTokenizer(), path=str(jsonl))
    datamodule.setup()
    assert sum(len(d) for d in datamodule.splits.values()) == 20


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"train.csv": ""}, "empty"),
        ({"train.csv": "sentence,label\nhello,0\n"}, r"text column \['text'\] not found"),
        (
            {"train.csv": "text,label\nhello,0\nbye,1\n", "dev.csv": "text,label\nhm,7\n"},
            "unknown label 7 in the validation split",
        ),
        ({"notes.md": "x"}, "no training file"),
    ],
)
def test_bad_data_fails_early_naming_the_problem(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    datamodule = TextClassificationData(tokenizer=WordTokenizer(), path=str(tmp_path))
    with pytest.raises(DataError, match=message):
        datamodule.setup()
