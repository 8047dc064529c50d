"""Bad data fails at setup with a DataError that names the file, the line and the problem."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from nlpzoo.data import (
    NliData,
    QuestionAnsweringData,
    Seq2SeqData,
    TextClassificationData,
    TokenClassificationData,
)
from nlpzoo.errors import DataError
from nlpzoo.tokenizers import WordTokenizer


def write_splits(folder: Path, suffix: str, train: str, dev: str | bytes, test: str | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / f"train{suffix}").write_text(train, encoding="utf-8")
    path = folder / f"dev{suffix}"
    path.write_bytes(dev if isinstance(dev, bytes) else dev.encode())
    (folder / f"test{suffix}").write_text(test if test is not None else train, encoding="utf-8")
    return path


CONLL = "-DOCSTART- O\n\nEU S-ORG\nrejects O\nGerman S-MISC\n\nPeter B-PER\nBlackburn E-PER\n"


def ner(folder: Path, **options) -> TokenClassificationData:
    return TokenClassificationData(tokenizer=WordTokenizer(), path=str(folder), **options)


def test_malformed_conll_line_names_file_and_line(tmp_path: Path) -> None:
    dev = write_splits(tmp_path / "ner", ".conll", CONLL, "EU S-ORG\nrejects\n")
    with pytest.raises(DataError, match=rf"{dev}, line 2: 1 column"):
        ner(tmp_path / "ner").setup()


def test_tag_sequence_invalid_in_its_scheme(tmp_path: Path) -> None:
    dev = write_splits(tmp_path / "ner", ".conll", CONLL, "a O\n\nPeter I-PER\nBlackburn E-PER\n")
    with pytest.raises(DataError, match=rf"{dev}\), line 3: tag 'I-PER' at token 1 continues no chunk"):
        ner(tmp_path / "ner").setup()


def test_unknown_entity_type_in_dev(tmp_path: Path) -> None:
    dev = write_splits(tmp_path / "ner", ".conll", CONLL, "Apple S-COMPANY\n")
    with pytest.raises(DataError, match=rf"{dev}\), line 1: unknown tag\(s\) \['S-COMPANY'\]"):
        ner(tmp_path / "ner").setup()


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    dev = write_splits(tmp_path / "ner", ".conll", CONLL, b"EU S-ORG\n\nM\xfcnchen S-LOC\n")
    with pytest.raises(DataError, match=rf"{dev}, line 3: not valid UTF-8"):
        ner(tmp_path / "ner").setup()
    dev_tsv = write_splits(
        tmp_path / "sst",
        ".tsv",
        "label\tsentence\n0\tbad\n1\tgood\n",
        b"label\tsentence\n0\tok\n1\tgr\xe9at\n",
    )
    with pytest.raises(DataError, match=rf"{dev_tsv}, line 3: not valid UTF-8"):
        TextClassificationData(
            tokenizer=WordTokenizer(), path=str(tmp_path / "sst"), text_column="sentence"
        ).setup()


def test_unknown_label_in_dev_names_the_split_file(tmp_path: Path) -> None:
    train = "label\tsentence\n0\tbad\n1\tgood\n"
    dev = write_splits(tmp_path / "sst", ".tsv", train, "label\tsentence\n2\tso so\n")
    with pytest.raises(DataError, match=rf"unknown label 2 in the validation split \({dev}\)"):
        TextClassificationData(
            tokenizer=WordTokenizer(), path=str(tmp_path / "sst"), text_column="sentence"
        ).setup()


def test_empty_split_is_an_error(tmp_path: Path) -> None:
    write_splits(tmp_path / "sst", ".tsv", "label\tsentence\n0\tbad\n1\tgood\n", "label\tsentence\n")
    with pytest.raises(DataError, match=r"dev\.tsv"):
        TextClassificationData(
            tokenizer=WordTokenizer(), path=str(tmp_path / "sst"), text_column="sentence"
        ).setup()
    table = tmp_path / "pairs.tsv"
    table.write_text("a\tb\tlabel\tset\nx\ty\tyes\tTRAIN\nx\tz\tno\tTRAIN\n")
    nli = NliData(
        tokenizer=WordTokenizer(),
        path=str(table),
        text_column="a",
        text_pair_column="b",
        split_column="set",
        split_values={"train": "TRAIN", "validation": "TRIAL", "test": "TRAIN"},
    )
    with pytest.raises(DataError, match=r"the validation split \(.*pairs.tsv\) is empty"):
        nli.setup()


def test_answer_not_at_its_offset_names_the_question(tmp_path: Path) -> None:
    context = "The Broncos defeated the Panthers in Super Bowl 50."
    good = {"id": "q1", "question": "Who won?", "answers": [{"text": "The Broncos", "answer_start": 0}]}
    bad = {"id": "q2", "question": "Who lost?", "answers": [{"text": "Panthers", "answer_start": 3}]}
    document = {
        "data": [
            {"title": t, "paragraphs": [{"context": context, "qas": [good, bad] if t == "b" else [good]}]}
            for t in "abc"
        ]
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(document))
    datamodule = QuestionAnsweringData(
        tokenizer=WordTokenizer(), path=str(path), carve_by="title", carve_fraction=0.34
    )
    with pytest.raises(
        DataError,
        match=r"question q2: answer 'Panthers' is not at offset 3 of its context \(found ' Broncos'\)",
    ):
        datamodule.setup()


def test_parallel_files_with_different_line_counts(tmp_path: Path) -> None:
    folder = tmp_path / "pairs"
    folder.mkdir()
    for split, (de, en) in {"train": (3, 2), "val": (2, 2), "test": (2, 2)}.items():
        with gzip.open(folder / f"{split}.de.gz", "wt") as handle:
            handle.write("".join(f"Satz {i}\n" for i in range(de)))
        (folder / f"{split}.en").write_text("".join(f"sentence {i}\n" for i in range(en)))
    datamodule = Seq2SeqData(
        tokenizer=WordTokenizer(),
        path=str(folder),
        source_column="de",
        target_column="en",
        parallel_files=True,
    )
    with pytest.raises(
        DataError, match=r"different line counts: \[.*train.en'\] ended while .*train.de.gz has line 3"
    ):
        datamodule.setup()


def test_tag_schemes_are_typed_in_either_case() -> None:
    # README writes IOB1/IOB2/IOBES, conf/data/conll2003.yaml writes iob1/iob2/iobes: both work.
    datamodule = TokenClassificationData(tag_scheme="IOB2", output_scheme="IOBES")
    assert (datamodule.tag_scheme, datamodule.output_scheme) == ("iob2", "iobes")


def test_invalid_options_fail_before_reading(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="tag_scheme='bio'; valid: iob1, iob2, iobes"):
        TokenClassificationData(tag_scheme="bio")
    with pytest.raises(DataError, match="pair_encoding='siamese'; valid: cross, bi"):
        NliData(text_pair_column="b", pair_encoding="siamese")
    with pytest.raises(DataError, match="split_values/drop_splits name unknown split"):
        NliData(text_pair_column="b", drop_splits=["dev"])
