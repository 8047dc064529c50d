"""Tokenization is cached across runs; bucketing cuts padding, and the reported padding is what loaders serve."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlpzoo.data import TextClassificationData, TokenClassificationData
from nlpzoo.tasks.tagging import SCHEMES, convert_tags, detect_scheme, tag_problem, tags_to_spans
from nlpzoo.tokenizers import BpeTokenizer, WordTokenizer


def sst2(shared_data: Path, **options) -> TextClassificationData:
    settings = {
        "tokenizer": BpeTokenizer(vocab_size=1000),
        "path": str(shared_data / "sst2"),
        "text_column": ["sentence", "content"],
        "max_train_samples": 3000,
        "max_val_samples": 100,
        "max_test_samples": 100,
        **options,
    }
    return TextClassificationData(**settings)


def cache_state(datamodule) -> dict[str, list[tuple[str, int]]]:
    files = {split: [f["filename"] for f in data.cache_files] for split, data in datamodule.splits.items()}
    return {split: [(name, os.stat(name).st_mtime_ns) for name in names] for split, names in files.items()}


def test_a_second_identical_setup_reads_the_cache_instead_of_tokenizing(shared_data: Path) -> None:
    first = sst2(shared_data)
    first.setup()
    before = cache_state(first)
    assert all(before.values())  # each split is backed by an Arrow cache file
    second = sst2(shared_data)
    second.setup()
    assert second.tokenizer is not first.tokenizer
    assert cache_state(second) == before  # same files, none rewritten
    assert second.splits["train"]["input_ids"][:5] == first.splits["train"]["input_ids"][:5]
    changed = sst2(shared_data, tokenizer=BpeTokenizer(vocab_size=1001))
    changed.setup()
    assert changed.splits["train"]._fingerprint != first.splits["train"]._fingerprint


def test_conll_reading_and_encoding_are_cached_too(shared_data: Path) -> None:
    def build() -> TokenClassificationData:
        return TokenClassificationData(
            tokenizer=WordTokenizer(), path=str(shared_data / "conll2003"), max_train_samples=500
        )

    first = build()
    first.setup()
    second = build()
    second.setup()
    assert cache_state(second) == cache_state(first)


def test_bucketing_cuts_padding_and_the_reported_fraction_is_what_the_loader_serves(
    shared_data: Path,
) -> None:
    plain = sst2(shared_data, batch_size=32)
    bucketed = sst2(shared_data, batch_size=32, bucket_by_length=True)
    plain.setup()
    bucketed.setup()
    for datamodule in (plain, bucketed):
        padded = real = 0
        for batch in datamodule.train_dataloader():
            padded += batch["attention_mask"].numel()
            real += int(batch["attention_mask"].sum())
        if datamodule is plain:  # shuffled batches: the estimate is close, not exact
            assert datamodule.padding_fraction() == pytest.approx(1 - real / padded, abs=0.05)
        else:  # the bucket sampler serves exactly the batches it reports
            assert datamodule.padding_fraction() == pytest.approx(1 - real / padded, abs=1e-9)
    assert bucketed.padding_fraction() < plain.padding_fraction() / 3


@pytest.fixture(scope="module")
def conll_tags(shared_data: Path) -> list[list[str]]:
    sentences, current = [], []
    for line in (shared_data / "conll2003" / "eng.train").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] != "-DOCSTART-":
            current.append(fields[-1])
        elif current:
            sentences.append(current)
            current = []
    return sentences


def test_conll_iobes_tags_convert_to_every_scheme_and_back(conll_tags: list[list[str]]) -> None:
    assert len(conll_tags) == 14_041 and detect_scheme(conll_tags) == "iobes"
    for scheme in SCHEMES:
        converted = [convert_tags(tags, scheme) for tags in conll_tags]
        assert detect_scheme(converted) == scheme
        assert all(tag_problem(tags, scheme) is None for tags in converted)
        assert [convert_tags(tags, "iobes") for tags in converted] == conll_tags


def test_schemes_by_hand() -> None:
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]
    assert tags_to_spans(iob1, "iob1") == [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)]
    assert convert_tags(iob1, "iob2") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert convert_tags(iob1, "iobes") == ["B-PER", "E-PER", "S-PER", "O", "S-LOC"]
    assert tag_problem(["B-PER", "O"], "iob1") is not None  # IOB1 has no B- at a chunk start
    assert (
        tag_problem(["B-PER", "I-PER"], "iobes")
        == "the chunk before token 3 never ends (IOBES ends chunks with E-)"
    )
