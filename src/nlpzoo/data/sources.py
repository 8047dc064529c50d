"""Reading a task's raw splits from a Hugging Face hub name or from a user's local files."""

from __future__ import annotations

import csv
import gzip
import json
import logging
from pathlib import Path
from typing import Any

import datasets

from nlpzoo.errors import DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev", "testa"),
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
        raise DataError(f"cannot tell the format of {path}: expected one of {sorted(FORMATS)} (optionally .gz)")
    return FORMATS[suffix]


def find_split_files(folder: Path, files: dict[str, str] | None) -> dict[str, Path]:
    """Split name -> file: as given in `files`, else guessed from names like train.tsv, dev.tsv, test.tsv."""
    if files:
        unknown = set(files) - set(SPLITS)
        if unknown:
            raise DataError(f"data.files has unknown split(s) {sorted(unknown)}; valid: {list(SPLITS)}")
        found = {split: folder / name for split, name in files.items() if name}
    else:
        found = {}
        candidates = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        for split, aliases in SPLIT_ALIASES.items():
            for path in candidates:
                stem = path.name.split(".")[0].lower()
                if stem in aliases and path.suffix.lower() not in {".md"}:
                    found[split] = path
                    break
    if "train" not in found:
        raise DataError(
            f"no training file in {folder}: name one with data.files.train=FILE "
            f"(found {[p.name for p in folder.iterdir()]})"
        )
    return found


def _reader_options(path: Path, builder: str, overrides: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if builder == "csv" and ".tsv" in [s.lower() for s in path.suffixes]:
        options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    options.update(overrides)
    return options


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
            raise DataError(f"{path}: record {number} is {type(record).__name__}, not a JSON object {{column: value}}")


def load_local_file(path: Path, reader_options: dict[str, Any] | None = None) -> datasets.Dataset:
    """One file as a `datasets.Dataset` (cached as Arrow by `datasets`), with errors that name the file."""
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"data file is empty: {path}")
    builder = file_format(path)
    if builder == "json":
        check_json_records(path)
    options = _reader_options(path, builder, reader_options or {})
    try:
        dataset = datasets.load_dataset(builder, data_files={"data": str(path)}, split="data", **options)
    except Exception as error:  # datasets wraps parser errors in many types; name the file either way
        cause = innermost_cause(error)
        hint = ""
        if isinstance(cause, UnicodeDecodeError):
            hint = "; the file is not UTF-8: re-encode it, or set data.reader_options.encoding=ITS_ENCODING"
        raise DataError(f"could not read {path} as {builder}: {type(cause).__name__}: {cause}{hint}") from error
    if len(dataset) == 0:
        raise DataError(f"data file has no rows: {path}")
    return dataset


def innermost_cause(error: BaseException) -> BaseException:
    """The original error under the wrappers `datasets` raises ("An error occurred while generating...")."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def load_splits(
    source: str | None = None,
    path: str | None = None,
    files: dict[str, str] | None = None,
    subset: str | None = None,
    reader_options: dict[str, Any] | None = None,
) -> dict[str, datasets.Dataset]:
    """The available splits of a local path (file or folder) or, without a path, of a hub dataset."""
    if path:
        location = Path(path).expanduser()
        if location.is_dir():
            return {
                split: load_local_file(file, reader_options)
                for split, file in find_split_files(location, files).items()
            }
        return {"train": load_local_file(location, reader_options)}
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
    splits: dict[str, datasets.Dataset], missing: str, fraction: float, seed: int
) -> dict[str, datasets.Dataset]:
    """Take `fraction` of the training split, seeded, as the `missing` split, and say so."""
    train = splits["train"]
    if len(train) < 2:
        raise DataError(f"cannot carve a {missing} split from a training split of {len(train)} row(s)")
    parts = train.train_test_split(test_size=fraction, seed=seed)
    log.warning(
        "no %s split: carved %d of %d training rows (seed %d)", missing, len(parts["test"]), len(train), seed
    )
    return {**splits, "train": parts["train"], missing: parts["test"]}


def first_present_column(dataset: datasets.Dataset, candidates: str | list[str], what: str, where: str) -> str:
    """The first of the candidate column names that the split has, or an error listing its columns."""
    names = [candidates] if isinstance(candidates, str) else list(candidates)
    for name in names:
        if name in dataset.column_names:
            return name
    raise DataError(f"{what} column {names} not found in {where}; its columns are {dataset.column_names}")
