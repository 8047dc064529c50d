"""Read an offline W&B run back through wandb's own record types (what `wandb sync` would upload)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

WANDB_BLOCK = 32 * 1024  # the .wandb transaction log is a LevelDB-style log of protobuf records


def read_wandb_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """Every record of an offline run's .wandb file (what `wandb sync` uploads), as wandb's protobufs."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    records, pending, offset = [], b"", 7  # header: ':W&B', magic (2 bytes), version (1 byte)
    while offset + 7 <= len(data):
        if WANDB_BLOCK - offset % WANDB_BLOCK < 7:  # a chunk header never spans blocks: padding
            offset += WANDB_BLOCK - offset % WANDB_BLOCK
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[offset : offset + 7])
        pending += data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def of_type(records: list[wandb_internal_pb2.Record], kind: str) -> list[Any]:
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def history_rows(records: list[wandb_internal_pb2.Record]) -> list[dict[str, Any]]:
    return [
        {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in history.item}
        for history in of_type(records, "history")
    ]
