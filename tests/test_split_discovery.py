"""`data=NAME data.path=FOLDER` finds the splits of every local copy in ../shared/data as it lies there:
one data file is that file, one file with a split column is split by it, a missing split is carved
and the log says which.

The folders are data: add a row to FOLDERS (data config, folder, where each split must come from).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nlpzoo.data import TextClassificationData
from nlpzoo.data.sources import find_split_files
from nlpzoo.errors import DataError
from nlpzoo.tokenizers import WordTokenizer
from nlpzoo.training import build_datamodule
from tests.conftest import SHARED_DATA, compose_config

CARVED = "carved"
# data config -> (folder under ../shared/data, {split: file it is read from, or CARVED}).
FOLDERS: dict[str, tuple[str, dict[str, str]]] = {
    "sst2": ("sst2", {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}),
    "conll2003": ("conll2003", {"train": "eng.train", "validation": "eng.testa", "test": "eng.testb"}),
    "squad": ("squad", {"train": "dev-v1.1.json", "validation": CARVED, "test": CARVED}),
    "multi30k": (
        "multi30k",
        {"train": "train.de.gz", "validation": "val.de.gz", "test": "test_2016_flickr.de.gz"},
    ),
    "dialogsum": (
        "dialogsum",
        {
            "train": "dialogsum.train.jsonl.gz",
            "validation": "dialogsum.dev.jsonl",
            "test": "dialogsum.test.jsonl",
        },
    ),
    "tinyshakespeare": ("tinyshakespeare", {"train": "input.txt", "validation": CARVED, "test": CARVED}),
    "wikitext2": ("wikitext-2", {"train": "valid.txt", "validation": CARVED, "test": "test.txt"}),
    "wikitext2_mlm": ("wikitext-2", {"train": "valid.txt", "validation": CARVED, "test": "test.txt"}),
    "stsb": ("stsb", {"train": "sts-train.csv", "validation": "sts-dev.csv", "test": "sts-test.csv"}),
    "sick": ("sick", {"train": "SICK.txt", "validation": "SICK.txt", "test": "SICK.txt"}),
    "rte": ("rte", {"train": "train.tsv", "validation": "dev.tsv", "test": CARVED}),  # GLUE hides test labels
}


@pytest.mark.parametrize("config", list(FOLDERS))
def test_data_config_reads_its_shared_folder_as_it_lies(config: str, tmp_path: Path) -> None:
    folder, expected = FOLDERS[config]
    cfg = compose_config([f"data={config}", f"data.path={SHARED_DATA / folder}"], tmp_path)
    datamodule = build_datamodule(cfg)
    splits = datamodule.load_raw_splits()
    assert set(splits) == {"train", "validation", "test"} and all(len(rows) for rows in splits.values())
    for split, source in expected.items():
        where = datamodule.split_sources[split]
        assert (
            where.startswith("carved") if source == CARVED else source in Path(where.split(" + ")[0]).name
        ), where


def test_sick_folder_splits_by_its_semeval_column(tmp_path: Path) -> None:
    cfg = compose_config(["data=sick", f"data.path={SHARED_DATA / 'sick'}"], tmp_path)
    splits = build_datamodule(cfg).load_raw_splits()
    assert {split: len(rows) for split, rows in splits.items()} == {
        "train": 4439,
        "validation": 495,
        "test": 4906,
    }


def test_folder_of_one_file_is_that_file_whatever_its_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "dev.csv").write_text("text,label\n" + "good film,1\nbad film,0\n" * 10)
    (tmp_path / "README").write_text("my reviews")
    (tmp_path / "LICENSE.txt").write_text("CC0")
    with caplog.at_level(logging.WARNING):
        assert find_split_files(tmp_path, None) == {"train": tmp_path / "dev.csv"}
    assert "holds one data file, dev.csv: it is the training split" in caplog.text


def test_folder_without_train_trains_on_validation_and_carves_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "valid.csv").write_text("text,label\n" + "good film,1\nbad film,0\n" * 10)
    (tmp_path / "test.csv").write_text("text,label\nfine,1\nawful,0\n")
    datamodule = TextClassificationData(tokenizer=WordTokenizer(), path=str(tmp_path))
    with caplog.at_level(logging.WARNING):
        splits = datamodule.load_raw_splits()
    assert "no training file" in caplog.text and "training on the validation file valid.csv" in caplog.text
    assert "no validation split: carved 2 of 20" in caplog.text
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (18, 2, 2)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"notes.md": "x", "README": "x"}, r"no training file in .*found \['README', 'notes.md'\]"),
        ({"a.csv": "text,label\nx,0\n", "b.csv": "text,label\ny,1\n"}, "no training file"),
        ({"test.csv": "text,label\nx,0\n", "other.csv": "text,label\ny,1\n"}, "no training file"),
    ],
)
def test_folder_whose_training_split_cannot_be_told_is_refused(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message):
        find_split_files(tmp_path, None)
