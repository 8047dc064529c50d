"""`data.streaming=true`: the training split as an endless stream of rows, read from local files line by line
(or a hub dataset in `datasets`' streaming mode), tokenized a chunk at a time in the DataLoader's workers.

Row i of the source goes to shard i mod (DDP world size x loader workers), so ranks and workers never see
the same row. The stream restarts at the end of the source (a new pass), so every rank serves batches for
as long as asked: `trainer.max_steps` stops training. The position (pass, row, byte offset, examples taken
from the current chunk) is the dataset's `state_dict`, which `StatefulDataLoader` saves per worker into
Lightning's checkpoint, so a resumed run continues where the interrupted one stopped.
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from torch.utils.data import IterableDataset, get_worker_info
from torchdata.stateful_dataloader import StatefulDataLoader

from nlpzoo.data.sources import file_format
from nlpzoo.errors import ConfigError, DataError

Rows = Iterator[tuple[dict[str, Any], int]]  # (row, byte offset just after it)
Encoder = Callable[[list[dict[str, Any]], list[int]], tuple[list[dict[str, Any]], list[int]]]
STREAMED_FORMATS = ("text", "json", "csv")


def require_max_steps(max_steps: int | None) -> None:
    """A stream has no epochs: training needs `trainer.max_steps` to know when to stop."""
    if max_steps is None or max_steps < 0:
        raise ConfigError(
            "data.streaming=true reads the training data as an endless stream: "
            "set trainer.max_steps=N to say when training stops"
        )


def open_binary(path: Path) -> io.BufferedIOBase:
    """The file as bytes, gunzipped when it ends in .gz (`tell`/`seek` count uncompressed bytes)."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def decoded(raw: bytes, path: Path, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path}, byte {offset}: not valid UTF-8 ({error}); re-encode the file as UTF-8"
        ) from None


def local_rows(path: Path, offset: int, reader_options: dict[str, Any], builder: str | None = None) -> Rows:
    """Rows of a text (one per line, column `text`), JSON Lines or csv/tsv file from byte `offset` on.

    csv/tsv rows are one line each (no quoted line breaks); the header is read first wherever the stream starts.
    """
    builder = builder or file_format(path)
    if builder not in STREAMED_FORMATS:
        raise DataError(
            f"data.streaming=true reads txt, jsonl, csv and tsv files (optionally .gz), not {path}"
        )
    keep_linebreaks = bool(reader_options.get("keep_linebreaks", False))
    tsv = ".tsv" in [s.lower() for s in path.suffixes]
    delimiter = reader_options.get("delimiter", "\t" if tsv else ",")
    quoting = reader_options.get("quoting", csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
    with open_binary(path) as handle:
        header: list[str] = []
        if builder == "csv":
            header = next(
                csv.reader([decoded(handle.readline(), path, 0)], delimiter=delimiter, quoting=quoting)
            )
            offset = max(offset, handle.tell())
        handle.seek(offset)
        while raw := handle.readline():
            line = decoded(raw, path, offset)
            offset = handle.tell()
            if builder == "text":
                yield {"text": line if keep_linebreaks else line.rstrip("\r\n")}, offset
            elif line.strip() and builder == "json":
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(
                        f"{path}: a line is not a JSON object ({error.msg}): {line[:80]!r}"
                    ) from None
                if not isinstance(record, dict):
                    raise DataError(
                        f"{path}: a line is {type(record).__name__}, not a JSON object {{column: value}}"
                    )
                yield record, offset
            elif line.strip():
                values = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter, quoting=quoting))
                yield dict(zip(header, values, strict=False)), offset


def hub_rows(source: str, subset: str | None, split: str, start_row: int) -> Rows:
    """A hub dataset's split in `datasets`' streaming mode from row `start_row`; the offset is the row count."""
    import datasets

    try:
        stream = datasets.load_dataset(source, subset, split=split, streaming=True)
    except Exception as error:
        raise DataError(
            f"could not stream hub dataset '{source}' ({type(error).__name__}: {error}). "
            "Offline? Point data.path= at local files instead."
        ) from error
    for after, row in enumerate(stream.skip(start_row), start=start_row + 1):
        yield row, after


def hub_eval_splits(source: str, subset: str | None) -> dict[str, Any]:
    """A hub dataset's validation and test splits, read through streaming (the training split is not downloaded)."""
    import datasets

    from nlpzoo.data.sources import SPLIT_ALIASES

    try:
        streams = datasets.load_dataset(source, subset, streaming=True)
    except Exception as error:
        raise DataError(
            f"could not stream hub dataset '{source}' ({type(error).__name__}: {error}). "
            "Offline? Point data.path= at local files instead."
        ) from error
    splits = {}
    for split in ("validation", "test"):
        alias = next((name for name in SPLIT_ALIASES[split] if name in streams), None)
        if alias is not None:
            splits[split] = datasets.Dataset.from_list(list(streams[alias]))
    return splits


class LocalSource:
    """Reads a local file's rows from a byte offset (a picklable callable, for spawned loader workers)."""

    def __init__(self, path: Path, reader_options: dict[str, Any], builder: str | None) -> None:
        self.path = path
        self.reader_options = reader_options
        self.builder = builder

    def __call__(self, offset: int, row: int) -> Rows:
        return local_rows(self.path, offset, self.reader_options, self.builder)

    def __str__(self) -> str:
        return str(self.path)


class HubSource:
    """Reads a hub dataset split's rows from a row number, in `datasets`' streaming mode."""

    def __init__(self, source: str, subset: str | None, split: str = "train") -> None:
        self.source, self.subset, self.split = source, subset, split

    def __call__(self, offset: int, row: int) -> Rows:
        return hub_rows(self.source, self.subset, self.split, row)

    def __str__(self) -> str:
        return f"hub dataset {self.source}"


class RowStream(IterableDataset):
    """Endless training examples from `read` (rows from a position), encoded `chunk_rows` rows at a time.

    `encode(rows, carry)` turns a chunk of rows into examples and the tokens carried into the next chunk
    (language modeling's partial block). `state_dict` is the start of the current chunk plus how many of
    its examples were served: resuming re-reads and re-encodes that chunk, then skips them.
    """

    def __init__(
        self,
        read: Callable[[int, int], Rows],
        encode: Encoder,
        chunk_rows: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if chunk_rows < 1:
            raise DataError(f"streaming_chunk_rows={chunk_rows} must be at least 1")
        self.read = read
        self.encode = encode
        self.chunk_rows = chunk_rows
        self.rank = rank
        self.world_size = world_size
        self.chunk: dict[str, Any] = {"pass": 0, "row": 0, "offset": 0, "carry": []}
        self.served = 0  # examples of the current chunk already yielded

    def state_dict(self) -> dict[str, Any]:
        return {**self.chunk, "served": self.served}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.served = int(state["served"])
        self.chunk = {key: state[key] for key in ("pass", "row", "offset", "carry")}

    def shard(self) -> tuple[int, int]:
        """(this worker's shard, number of shards) over DDP ranks x DataLoader workers."""
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return self.rank * workers + worker, self.world_size * workers

    def __iter__(self) -> Iterator[dict[str, Any]]:
        shard, shards = self.shard()
        while True:
            yielded = self.served > 0 or self.chunk["row"] > 0
            rows = self.read(self.chunk["offset"], self.chunk["row"])
            row, offset, exhausted = self.chunk["row"], self.chunk["offset"], False
            while not exhausted:
                chunk: list[dict[str, Any]] = []
                exhausted = True
                for record, offset in rows:  # noqa: B007  # offset: the position after the last row read
                    if row % shards == shard:
                        chunk.append(record)
                    row += 1
                    if len(chunk) == self.chunk_rows:
                        exhausted = False
                        break
                carry = list(self.chunk["carry"])
                examples, carry = self.encode(chunk, carry) if chunk else ([], carry)
                for example in examples[self.served :]:
                    self.served += 1
                    yielded = True
                    yield example
                self.chunk = {**self.chunk, "row": row, "offset": offset, "carry": carry}
                self.served = 0
            if not yielded:
                raise DataError(
                    f"the training stream ({self.read}) holds no example for shard {shard} of {shards} "
                    "(DDP ranks x DataLoader workers): it is too short for that many shards"
                )
            self.chunk = {"pass": self.chunk["pass"] + 1, "row": 0, "offset": 0, "carry": []}


def stream_head(read: Callable[[int, int], Rows], count: int) -> list[dict[str, Any]]:
    """The first `count` rows of a source: what the tokenizer learns from and the columns are checked on."""
    head = []
    for row, _ in read(0, 0):
        head.append(row)
        if len(head) == count:
            break
    if not head:
        raise DataError(f"the training stream ({read}) holds no rows")
    return head


class StreamLoader(StatefulDataLoader):
    """A `StatefulDataLoader` whose state is the one after the last batch the trainer *took*.

    Lightning fetches one batch ahead of the step it runs when a loader has no length, so the state a
    checkpoint saved would skip that batch on resume. The DataModule calls `take()` as each training batch
    reaches the step (its `on_before_batch_transfer` hook); without `take` calls the state is the usual one.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.snapshots: deque[dict[str, Any]] = deque(maxlen=8)  # the state after each of the last batches
        self.fetched = 0
        self.taken: int | None = None

    def __iter__(self) -> Iterator[Any]:
        self.snapshots.clear()
        self.fetched = 0
        self.taken = None if self.taken is None else 0
        for batch in super().__iter__():
            self.fetched += 1
            self.snapshots.append(copy.deepcopy(super().state_dict()))
            yield batch

    def take(self) -> None:
        """The trainer runs a step on the oldest batch fetched and not taken yet."""
        self.taken = (self.taken or 0) + 1

    def state_dict(self) -> dict[str, Any]:
        ahead = self.fetched - (self.taken or 0)
        if self.taken is None or not 0 <= ahead < len(self.snapshots):
            return super().state_dict()
        return self.snapshots[-1 - ahead]
