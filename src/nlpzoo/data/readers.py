"""Readers for the file formats `datasets` has no builder for (CoNLL columns, SQuAD JSON, parallel text).

Each yields rows into `datasets.Dataset.from_generator`, which stores them as Arrow in the
`datasets` cache (so later `map`s are cached too), keyed by the reader, its options and the
files' size and modification time. Bad input raises `DataError` naming file and line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import datasets

from nlpzoo.data.sources import read_lines
from nlpzoo.errors import DataError


def file_stamp(path: Path) -> tuple[str, int, int]:
    """What makes a cached read stale: the path, size and modification time."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def dataset_from_reader(
    reader: Callable[..., Iterator[dict[str, Any]]], paths: list[Path], **options: Any
) -> datasets.Dataset:
    """Run a row generator through `datasets` (cached as Arrow); re-raise its DataError unwrapped."""
    stamps = tuple(file_stamp(path) for path in paths)
    # Tuples, not lists: `from_generator` splits list-valued arguments into shards.
    options = {key: tuple(value) if isinstance(value, list) else value for key, value in options.items()}
    try:
        dataset = datasets.Dataset.from_generator(
            reader, gen_kwargs={"paths": tuple(str(p) for p in paths), "stamps": stamps, **options}
        )
    except datasets.exceptions.DatasetGenerationError as error:
        cause = error.__cause__
        while cause is not None and not isinstance(cause, DataError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise DataError(f"could not read {', '.join(map(str, paths))}: {error}") from error
    if len(dataset) == 0:
        raise DataError(f"no examples in {', '.join(map(str, paths))}")
    return dataset


def conll_rows(
    paths: tuple[str, ...], stamps: tuple[Any, ...], token_column: int, tag_column: int
) -> Iterator[dict[str, Any]]:
    """Sentences of a CoNLL column file: tokens, tags and the line the sentence starts on."""
    path = Path(paths[0])
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    for number, line in read_lines(path):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                yield {"tokens": tokens, "tags": tags, "line": start}
            tokens, tags = [], []
            continue
        try:
            if len(fields) < 2:
                raise IndexError
            token, tag = fields[token_column], fields[tag_column]
        except IndexError:
            raise DataError(
                f"{path}, line {number}: {len(fields)} column(s) {fields}, but the token column is "
                f"{token_column} and the tag column {tag_column} (set data.token_column/data.tag_column)"
            ) from None
        if not tokens:
            start = number
        tokens.append(token)
        tags.append(tag)
    if tokens:
        yield {"tokens": tokens, "tags": tags, "line": start}


def read_conll(path: Path, token_column: int = 0, tag_column: int = -1) -> datasets.Dataset:
    """A CoNLL file (one `token ... tag` line per token, blank lines between sentences, -DOCSTART- skipped)."""
    return dataset_from_reader(conll_rows, [path], token_column=token_column, tag_column=tag_column)


def squad_rows(paths: tuple[str, ...], stamps: tuple[Any, ...]) -> Iterator[dict[str, Any]]:
    """Questions of an official SQuAD JSON file, flattened as the hub's `squad` dataset has them."""
    path = Path(paths[0])
    try:
        document = json.loads("\n".join(line for _, line in read_lines(path)))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}, line {error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise DataError(f"{path}: not SQuAD JSON (expected {{'data': [{{'title', 'paragraphs': [...]}}]}})")
    for article in document["data"]:
        for paragraph in article.get("paragraphs", []):
            for question in paragraph.get("qas", []):
                answers = question.get("answers", [])
                yield {
                    "id": str(question["id"]),
                    "title": article.get("title", ""),
                    "context": paragraph["context"],
                    "question": question["question"],
                    "answers": {
                        "text": [a["text"] for a in answers],
                        "answer_start": [int(a["answer_start"]) for a in answers],
                    },
                }


def read_squad_json(path: Path) -> datasets.Dataset:
    """An official SQuAD-format JSON file (v1.1 or v2.0 layout)."""
    return dataset_from_reader(squad_rows, [path])


def parallel_rows(
    paths: tuple[str, ...], stamps: tuple[Any, ...], columns: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    """Line-aligned files (one sentence per line in each language), as rows of one column per file."""
    readers = [read_lines(Path(path)) for path in paths]
    while True:
        lines = [next(reader, None) for reader in readers]
        if all(line is None for line in lines):
            return
        if any(line is None for line in lines):
            ended = [p for p, line in zip(paths, lines, strict=True) if line is None]
            longer = [(p, line[0]) for p, line in zip(paths, lines, strict=True) if line is not None]
            raise DataError(
                f"parallel files have different line counts: {ended} ended while {longer[0][0]} "
                f"has line {longer[0][1]}"
            )
        complete = [line for line in lines if line is not None]  # all of them, checked above
        row: dict[str, Any] = {column: line[1] for column, line in zip(columns, complete, strict=True)}
        yield {**row, "line": complete[0][0]}


def read_parallel(paths: list[Path], columns: list[str]) -> datasets.Dataset:
    """Line-aligned parallel files (plain or .gz) as one dataset with a column per file."""
    return dataset_from_reader(parallel_rows, paths, columns=columns)
