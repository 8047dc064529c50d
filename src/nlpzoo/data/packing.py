"""Sequence packing for causal LM: whole examples (lines) laid side by side in blocks, each attending to itself only.

A packed block carries `document_ids` (1, 2, ... per example, 0 = padding) and `position_ids` that
restart at 0 with every example; labels are -100 on each example's first token, so no example is
predicted from the one before it. Families turn these into a block-diagonal causal mask (GPT from
scratch) or hand `position_ids` to Hugging Face decoders, whose mask builder reads the resets.
"""

from __future__ import annotations

from typing import Any

from nlpzoo.tasks.spec import IGNORE_INDEX


def split_examples(rows: dict[str, list[Any]], block_size: int) -> dict[str, list[Any]]:
    """Each line's ids as one example, cut into pieces of at most `block_size` (one token predicts nothing)."""
    pieces = [
        ids[start : start + block_size]
        for ids in rows["input_ids"]
        for start in range(0, len(ids), block_size)
    ]
    pieces = [piece for piece in pieces if len(piece) > 1]
    return {"input_ids": pieces, "attention_mask": [[1] * len(p) for p in pieces], "labels": pieces}


def best_fit(lengths: list[int], capacity: int) -> list[list[int]]:
    """Example indices per block, in order: each example joins the open block it leaves least room in (best fit).

    Deterministic; an example fits a block when the block's free room is at least its length.
    """
    blocks: list[list[int]] = []
    by_room: list[list[int]] = [[] for _ in range(capacity + 1)]  # by_room[r]: blocks with r tokens free
    for index, length in enumerate(lengths):
        room = next((r for r in range(length, capacity + 1) if by_room[r]), None)
        if room is None:
            blocks.append([])
            block, room = len(blocks) - 1, capacity
        else:
            block = by_room[room].pop(0)  # the oldest such block: ties go to the earliest
        blocks[block].append(index)
        by_room[room - length].append(block)
    return blocks


def pack_examples(rows: dict[str, list[Any]], block_size: int) -> dict[str, list[Any]]:
    """Split lines into examples (`split_examples`) and pack them into blocks of at most `block_size` tokens."""
    examples = split_examples(rows, block_size)["input_ids"]
    packed: dict[str, list[Any]] = {
        key: [] for key in ("input_ids", "attention_mask", "labels", "document_ids", "position_ids")
    }
    for block in best_fit([len(e) for e in examples], block_size):
        members = [examples[i] for i in block]
        ids = [token for example in members for token in example]
        packed["input_ids"].append(ids)
        packed["attention_mask"].append([1] * len(ids))
        packed["labels"].append([t if p else IGNORE_INDEX for e in members for p, t in enumerate(e)])
        packed["document_ids"].append([d for d, e in enumerate(members, start=1) for _ in e])
        packed["position_ids"].append([p for e in members for p in range(len(e))])
    return packed
