"""Read an offline W&B run's records back with wandb's own protobuf definitions.

wandb >= 0.19 writes `run-*.wandb` files from its Go core and no longer ships a Python reader;
the file is a LevelDB-style log (32 KiB blocks of length-prefixed chunks) of `Record` messages.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
FILE_HEADER = struct.Struct("<4sHB")  # b":W&B", magic 0xBEE1, version
CHUNK_HEADER = struct.Struct("<IHB")  # crc32, length, type (1 full, 2 first, 3 middle, 4 last)


def records(path: Path) -> Iterator[wandb_internal_pb2.Record]:
    """Every record of a `.wandb` file, in order."""
    data = path.read_bytes()
    ident, magic, _ = FILE_HEADER.unpack_from(data, 0)
    assert ident == b":W&B" and magic == 0xBEE1, f"{path} is not a W&B transaction log"
    position, pending = FILE_HEADER.size, b""
    while position + CHUNK_HEADER.size <= len(data):
        left_in_block = BLOCK - position % BLOCK
        if left_in_block < CHUNK_HEADER.size:
            position += left_in_block  # block trailer padding
            continue
        _, length, kind = CHUNK_HEADER.unpack_from(data, position)
        chunk = data[position + CHUNK_HEADER.size : position + CHUNK_HEADER.size + length]
        position += CHUNK_HEADER.size + length
        if kind == 0 and length == 0:
            position += BLOCK - position % BLOCK if position % BLOCK else 0
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


def offline_run_contents(run_file: Path) -> tuple[set[str], set[str], list[str]]:
    """(history metric keys, top-level config keys, artifact names) of an offline run."""
    history, config, artifacts = set(), set(), []
    for record in records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history |= {item.key or "/".join(item.nested_key) for item in record.history.item}
        elif kind == "config":
            config |= {item.key or item.nested_key[0] for item in record.config.update}
        elif kind == "artifact":
            artifacts.append(record.artifact.name)
        elif kind == "run":
            config |= {item.key or item.nested_key[0] for item in record.run.config.update}
    return history, config, artifacts


def of_type(run_records: list[wandb_internal_pb2.Record], kind: str) -> list[Any]:
    """The payloads of one record type (`run`, `config`, `history`, `artifact`, ...)."""
    return [getattr(record, kind) for record in run_records if record.WhichOneof("record_type") == kind]


def history_rows(run_records: list[wandb_internal_pb2.Record]) -> list[dict[str, Any]]:
    """Each `wandb.log` call as the dict it logged."""
    return [
        {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in history.item}
        for history in of_type(run_records, "history")
    ]
