"""Bad data files through the real DataModule: a clear DataError naming the file and the problem, or,
for very long lines, truncation with a count in the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nlpzoo.data import TextClassificationData
from nlpzoo.data.sources import load_local_file
from nlpzoo.errors import DataError
from nlpzoo.tokenizers import WordTokenizer

ROWS = ["1\ta fine film", "0\ta dull film", "1\tgreat acting", "0\tweak plot"] * 5


def write_splits(
    folder: Path, train: list[str], dev: list[str] | bytes, header: str = "label\tsentence"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.tsv").write_text("\n".join([header, *train]) + "\n", encoding="utf-8")
    if isinstance(dev, bytes):
        (folder / "dev.tsv").write_bytes(dev)
    else:
        (folder / "dev.tsv").write_text("\n".join(["label\tsentence", *dev]) + "\n", encoding="utf-8")
    (folder / "test.tsv").write_text("\n".join(["label\tsentence", *ROWS]) + "\n", encoding="utf-8")
    return folder


def setup(folder: Path, max_length: int = 16) -> TextClassificationData:
    data = TextClassificationData(
        tokenizer=WordTokenizer(), path=str(folder), text_column=["sentence"], max_length=max_length
    )
    data.setup("fit")
    return data


def test_a_very_long_line_is_truncated_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    long_line = "1\t" + "word " * 200_000  # about a megabyte on one line
    folder = write_splits(tmp_path / "data", [*ROWS, long_line], ROWS)
    with caplog.at_level(logging.WARNING, logger="nlpzoo.data.base"):
        data = setup(folder, max_length=16)
    assert max(data.lengths("train")) == 16
    assert f"1 of {len(ROWS) + 1} examples in the train split were longer than max_length=16" in caplog.text


def test_bytes_that_are_not_utf8_name_the_file(tmp_path: Path) -> None:
    mixed = b"label\tsentence\n1\tgood\n" + "0\tun caf\xe9 tr\xe8s fade\n".encode("latin-1")
    folder = write_splits(tmp_path / "data", ROWS, mixed)
    with pytest.raises(DataError, match=r"dev\.tsv.*utf-8"):
        setup(folder)


def test_labels_only_in_dev_is_an_error_naming_the_train_split(tmp_path: Path) -> None:
    folder = write_splits(tmp_path / "data", [row.split("\t")[1] for row in ROWS], ROWS, header="sentence")
    with pytest.raises(DataError, match=r"label column \['label'\] not found in the train split"):
        setup(folder)


def test_an_empty_file_names_the_file(tmp_path: Path) -> None:
    folder = write_splits(tmp_path / "data", ROWS, b"")
    with pytest.raises(DataError, match=r"data file is empty: .*dev\.tsv"):
        setup(folder)


def test_a_header_without_rows_names_the_file(tmp_path: Path) -> None:
    folder = write_splits(tmp_path / "data", ROWS, [])
    with pytest.raises(DataError, match=r"dev\.tsv"):
        setup(folder)


@pytest.mark.parametrize("content", ["null", '{"sentence": "ok", "label": 1}\n[1, 2]\n', "42"])
def test_json_records_that_are_not_objects_are_refused_not_a_crash(tmp_path: Path, content: str) -> None:
    """A JSON file holding only `null` used to crash the whole process inside pyarrow (found by fuzzing)."""
    path = tmp_path / "train.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=r"train\.jsonl: record \d is (NoneType|list|int), not a JSON object"):
        load_local_file(path)
