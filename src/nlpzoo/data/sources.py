"""Reading a task's raw splits from a Hugging Face hub name or from a user's local files."""

from __future__ import annotations

import csv
import gzip
import json
import logging
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets

from nlpzoo.errors import DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev", "testa", "validation_matched"),
    "test": ("test", "testb"),
}
FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "json",
    ".json": "json",
    ".parquet": "parquet",
    ".txt": "text",
}


def file_format(path: Path) -> str:
    """The `datasets` builder for a file, from its suffix (ignoring a trailing .gz)."""
    suffixes = [s for s in path.suffixes if s != ".gz"]
    suffix = suffixes[-1].lower() if suffixes else ""
    if suffix not in FORMATS:
        raise DataError(
            f"cannot tell the format of {path}: expected one of {sorted(FORMATS)} (optionally .gz)"
        )
    return FORMATS[suffix]


# Files a dataset folder holds beside its data (a release's own notes), never read as a split.
DOCUMENTATION_NAMES = {"readme", "license", "licence", "source", "copying", "notice", "changelog", "citation"}
DOCUMENTATION_SUFFIXES = {".md", ".rst", ".pdf", ".html", ".htm"}


def is_documentation(path: Path) -> bool:
    """README, LICENSE.txt, SOURCE.md, notes.md...: a folder's documentation, not one of its splits."""
    stem = path.name.lower().split(".")[0]
    return stem in DOCUMENTATION_NAMES or path.suffix.lower() in DOCUMENTATION_SUFFIXES


def find_split_files(folder: Path, files: dict[str, str] | None) -> dict[str, Path]:
    """Split name -> file: as given in `files`, else guessed from names like train.tsv, dev.tsv, test.tsv.

    A folder holding one data file is that file (the training split). A folder without a training
    file trains on its validation file (WikiText-2's local copy: valid.txt and test.txt), and the
    caller carves validation from it; either way the log says so.
    """
    if files:
        unknown = set(files) - set(SPLITS)
        if unknown:
            raise DataError(f"data.files has unknown split(s) {sorted(unknown)}; valid: {list(SPLITS)}")
        found = {split: folder / name for split, name in files.items() if name}
        if "train" not in found:
            raise DataError(f"data.files names no train file in {folder}: add data.files.train=FILE")
        return found
    candidates = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and not is_documentation(p)
    )
    if len(candidates) == 1:
        if split_of(candidates[0]) not in (None, "train"):
            log.warning("%s holds one data file, %s: it is the training split", folder, candidates[0].name)
        return {"train": candidates[0]}
    found = {}
    for split in SPLITS:
        for path in candidates:
            if split_of(path) == split:
                found[split] = path
                break
    if "train" not in found and "validation" in found:
        log.warning(
            "no training file in %s: training on the validation file %s (a validation split is carved from it)",
            folder,
            found["validation"].name,
        )
        found["train"] = found.pop("validation")
    if "train" not in found:
        raise DataError(
            f"no training file in {folder}: name one with data.files.train=FILE "
            f"(found {sorted(p.name for p in folder.iterdir())})"
        )
    return found


def split_of(path: Path) -> str | None:
    """The split a file's name says it holds (`dev.tsv` -> validation, `eng.testb` -> test), if any."""
    parts = set(name_parts(path))
    return next((split for split, aliases in SPLIT_ALIASES.items() if parts & set(aliases)), None)


def name_parts(path: Path) -> list[str]:
    """`eng.testa` -> [eng, testa]; `sts-train.csv` -> [sts, train, csv]: the words a split name may hide in."""
    return [part for part in re.split(r"[._\-]", path.name.lower()) if part]


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number from 1, line without its end) of a UTF-8 text file, gzipped or not.

    Decodes line by line so that bad bytes are reported with the line they are on.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(
                    f"{path}, line {number}: not valid UTF-8 ({error}); re-encode the file as UTF-8"
                ) from None
            yield number, line.rstrip("\r\n")


def local_split_files(path: str, files: dict[str, str] | None = None) -> dict[str, Path]:
    """Split name -> file for a local `data.path`: a single file is the training split."""
    location = Path(path).expanduser()
    if location.is_dir():
        return find_split_files(location, files)
    if not location.exists():
        raise DataError(f"data.path={path}: no such file or folder")
    return {"train": location}


def _reader_options(path: Path, builder: str, overrides: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if builder == "csv" and ".tsv" in [s.lower() for s in path.suffixes]:
        options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    options.update(overrides)
    return options


def innermost_cause(error: BaseException) -> BaseException:
    """The original error under the wrappers `datasets` raises ("An error occurred while generating...")."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def check_json_records(path: Path) -> None:
    """JSON Lines of objects, or one JSON array of objects, before `datasets` reads it (pyarrow's reader
    crashes the process on some non-object documents, e.g. a file holding only `null`)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as stream:
            lines = [(number, line) for number, line in enumerate(stream, 1) if line.strip()]
    except (UnicodeDecodeError, OSError, EOFError) as error:
        raise DataError(f"could not read {path} as UTF-8 JSON: {type(error).__name__}: {error}") from error
    try:
        records = [(number, json.loads(line)) for number, line in lines]
    except json.JSONDecodeError:  # not JSON Lines: one document over several lines
        try:
            document = json.loads("".join(line for _, line in lines))
        except json.JSONDecodeError as error:
            raise DataError(f"{path} is neither JSON Lines nor one JSON document: {error}") from error
        records = list(enumerate(document if isinstance(document, list) else [document], 1))
    for number, record in records:
        if not isinstance(record, dict):
            raise DataError(
                f"{path}: record {number} is {type(record).__name__}, not a JSON object {{column: value}}"
            )


def load_local_file(
    path: Path, reader_options: dict[str, Any] | None = None, builder: str | None = None
) -> datasets.Dataset:
    """One file as a `datasets.Dataset` (cached as Arrow by `datasets`), with errors that name the file.

    `builder` (csv, json, parquet, text) overrides the format guessed from the file's suffix.
    """
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"data file is empty: {path}")
    builder = builder or file_format(path)
    if builder == "json":
        check_json_records(path)
    options = _reader_options(path, builder, reader_options or {})
    try:
        dataset = datasets.load_dataset(builder, data_files={"data": str(path)}, split="data", **options)
    except Exception as error:  # datasets wraps parser errors in many types; name the file either way
        if builder != "parquet":
            lines = [line for _, line in read_lines(path) if line.strip()]  # names a line that is not UTF-8
            if (
                builder == "csv" and len(lines) == 1
            ):  # datasets says 'Instruction "data" corresponds to no data!'
                raise DataError(f"data file has a header ({lines[0]!r}) but no rows: {path}") from None
        cause = innermost_cause(error)
        raise DataError(f"could not read {path} as {builder}: {type(cause).__name__}: {cause}") from error
    if len(dataset) == 0:
        raise DataError(f"data file has no rows: {path}")
    return dataset


def load_splits(
    source: str | None = None,
    path: str | None = None,
    files: dict[str, str] | None = None,
    subset: str | None = None,
    reader_options: dict[str, Any] | None = None,
) -> dict[str, datasets.Dataset]:
    """The available splits of a local path (file or folder) or, without a path, of a hub dataset."""
    if path:
        return {
            split: load_local_file(file, reader_options)
            for split, file in local_split_files(path, files).items()
        }
    if not source:
        raise DataError("no data given: set data.path=FILE_OR_DIR or data.source=HUB_DATASET_NAME")
    try:
        loaded = datasets.load_dataset(source, subset)
    except Exception as error:
        raise DataError(
            f"could not load hub dataset '{source}' ({type(error).__name__}: {error}). "
            "Offline? Point data.path= at local files instead."
        ) from error
    splits = {}
    for split, aliases in SPLIT_ALIASES.items():
        for alias in aliases:
            if alias in loaded:
                splits[split] = loaded[alias]
                break
    if "train" not in splits:
        raise DataError(f"hub dataset '{source}' has no train split; it has {list(loaded)}")
    return splits


def carve_split(
    splits: dict[str, datasets.Dataset],
    missing: str,
    fraction: float,
    seed: int,
    group_column: str | None = None,
    contiguous: bool = False,
) -> dict[str, datasets.Dataset]:
    """Take `fraction` of the training split as the `missing` split, and say so.

    Random rows (seeded) by default; whole groups (`group_column`, e.g. a SQuAD article, so no
    context is in both splits); or the last rows (`contiguous`, for running text).
    """
    train = splits["train"]
    if len(train) < 2:
        raise DataError(f"cannot carve a {missing} split from a training split of {len(train)} row(s)")
    if group_column:
        groups = list(dict.fromkeys(train[group_column]))
        if len(groups) < 2:
            raise DataError(
                f"cannot carve a {missing} split by '{group_column}': the training split has one group"
            )
        generator = random.Random(seed)
        generator.shuffle(groups)
        held_out = set(groups[: max(1, round(fraction * len(groups)))])
        flags = [value in held_out for value in train[group_column]]
        parts = {
            "train": train.select([i for i, flag in enumerate(flags) if not flag]),
            "test": train.select([i for i, flag in enumerate(flags) if flag]),
        }
        how = f"{len(held_out)} of {len(groups)} '{group_column}' groups, seed {seed}"
    elif contiguous:
        cut = len(train) - max(1, round(fraction * len(train)))
        parts = {"train": train.select(range(cut)), "test": train.select(range(cut, len(train)))}
        how = "the last rows"
    else:
        parts = train.train_test_split(test_size=fraction, seed=seed)
        how = f"random rows, seed {seed}"
    log.warning(
        "no %s split: carved %d of %d training rows (%s)", missing, len(parts["test"]), len(train), how
    )
    return {**splits, "train": parts["train"], missing: parts["test"]}


def column_values(dataset: datasets.Dataset, column: str) -> list[Any]:
    """A whole column as a Python list, read through Arrow (row-by-row access is 100x slower)."""
    return dataset.with_format("arrow")[column].to_pylist()


def first_present_column(
    dataset: datasets.Dataset, candidates: str | list[str], what: str, where: str
) -> str:
    """The first of the candidate column names that the split has, or an error listing its columns."""
    names = [candidates] if isinstance(candidates, str) else list(candidates)
    for name in names:
        if name in dataset.column_names:
            return name
    raise DataError(f"{what} column {names} not found in {where}; its columns are {dataset.column_names}")
