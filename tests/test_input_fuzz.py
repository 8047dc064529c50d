"""Fuzzing the data readers and the tokenizers: any input either loads or raises nlpzoo's own error
type (NlpzooError), never an unhandled exception."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlpzoo.data import TextClassificationData
from nlpzoo.data.sources import load_local_file
from nlpzoo.errors import NlpzooError
from nlpzoo.tokenizers import CharTokenizer, WordTokenizer

FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

cells = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
) | st.sampled_from(["0", "1", "", "positive", "-1", '"', "\t", "\\", "null", "1.5"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["text", "label", "x"]), children, max_size=3)
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module", autouse=True)
def private_datasets_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every random file gets its own Arrow cache: keep them out of the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf-cache"))
        datasets.disable_progress_bars()
        yield
        datasets.enable_progress_bars()


def loads_or_raises_own_error(action) -> None:
    with contextlib.suppress(NlpzooError):  # a clear, expected refusal; anything else fails the test
        action()


def load_classification_folder(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            (Path(folder) / name).write_bytes(content)
        data = TextClassificationData(
            tokenizer=WordTokenizer(), path=folder, max_length=8, carve_fraction=0.5
        )
        loads_or_raises_own_error(lambda: data.setup("fit"))


@FUZZ
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".tsv", ".csv", ".jsonl", ".txt", ".json"]))
def test_reader_on_random_bytes(content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"train{suffix}"
        path.write_bytes(content)
        loads_or_raises_own_error(lambda: load_local_file(path))


@FUZZ
@given(
    header=st.lists(st.sampled_from(["text", "label", "sentence", "x", ""]), min_size=1, max_size=3),
    rows=st.lists(st.lists(cells, max_size=4), max_size=12),
)
def test_text_classification_on_random_tsv(header: list[str], rows: list[list[str]]) -> None:
    lines = ["\t".join(header), *("\t".join(row) for row in rows)]
    load_classification_folder({"train.tsv": "\n".join(lines).encode()})


@FUZZ
@given(lines=st.lists(json_values.map(json.dumps) | st.text(max_size=10), max_size=12))
def test_text_classification_on_random_jsonl(lines: list[str]) -> None:
    load_classification_folder({"train.jsonl": "\n".join(lines).encode()})


@FUZZ
@given(
    corpus=st.lists(st.text(max_size=30), max_size=20),
    inputs=st.lists(st.text(max_size=60), min_size=1, max_size=5),
    recipe=st.sampled_from([WordTokenizer(), WordTokenizer(split_punctuation=True), CharTokenizer()]),
)
def test_tokenizers_on_random_text(corpus: list[str], inputs: list[str], recipe) -> None:
    tokenizer = recipe.build(corpus)
    encoded = tokenizer(inputs, truncation=True, max_length=16)
    for ids in encoded["input_ids"]:
        assert len(ids) <= 16 and all(0 <= i < len(tokenizer) for i in ids)
