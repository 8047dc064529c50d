"""Language modeling: running text tokenized, concatenated and cut into blocks or random windows, or served
as whole lines (one per row, or packed several per block); causal or masked."""

from __future__ import annotations

import bisect
import itertools
from functools import partial
from typing import Any, Literal

import datasets
import pyarrow.compute as pc
import torch
from torch.utils.data import Dataset, Sampler
from transformers import DataCollatorForLanguageModeling

from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.caching import cached_map
from nlpzoo.data.collate import PaddingCollator
from nlpzoo.data.packing import pack_examples, split_examples
from nlpzoo.data.sampling import RandomWindowSampler
from nlpzoo.data.sources import column_values, first_present_column
from nlpzoo.data.streaming import Encoder
from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import IGNORE_INDEX, TaskKind, TaskSpec

LINES_PER_GROUP = 10_000  # lines concatenated before cutting blocks; only the group's last block is short


def encode_lines(
    rows: dict[str, list[Any]], tokenizer: Any, text_column: str, eos_id: int | None
) -> dict[str, list[Any]]:
    """Token ids of each line (no special tokens), with an end-of-line token when `eos_id` is given."""
    encoded = tokenizer([t or "" for t in rows[text_column]], add_special_tokens=False)["input_ids"]
    return {"input_ids": [[*ids, eos_id] if eos_id is not None else ids for ids in encoded]}


def is_character_level(tokenizer: Any) -> bool:
    """Whether each token is one character (every non-special vocabulary entry has length 1), as `tokenizer=char`
    makes: then the LM's per-token NLL is per character, and bits per character are reported."""
    special = set(tokenizer.all_special_tokens)
    return all(len(token) == 1 for token in tokenizer.get_vocab() if token not in special)


def cut_blocks(rows: dict[str, list[Any]], block_size: int) -> dict[str, list[Any]]:
    """Concatenate the lines' ids and cut them into blocks of `block_size`; labels = input_ids (the objective shifts)."""
    stream = [token for ids in rows["input_ids"] for token in ids]
    blocks = [stream[i : i + block_size] for i in range(0, len(stream), block_size)]
    blocks = [block for block in blocks if len(block) > 1]  # one token predicts nothing
    return {
        "input_ids": blocks,
        "attention_mask": [[1] * len(b) for b in blocks],
        "labels": [list(b) for b in blocks],
    }


def encode_stream_blocks(
    rows: list[dict[str, Any]],
    carry: list[int],
    tokenizer: Any,
    text_column: str,
    eos_id: int | None,
    block_size: int,
) -> tuple[list[dict[str, Any]], list[int]]:
    """A streamed chunk of lines as full blocks of `block_size` tokens, after the tokens `carry`-ed from the
    chunk before; the tokens left over are carried into the next chunk."""
    lines = encode_lines(
        {text_column: [row.get(text_column) for row in rows]}, tokenizer, text_column, eos_id
    )
    stream = carry + [token for ids in lines["input_ids"] for token in ids]
    full = len(stream) // block_size * block_size
    blocks = [stream[i : i + block_size] for i in range(0, full, block_size)]
    examples = [{"input_ids": b, "attention_mask": [1] * block_size, "labels": list(b)} for b in blocks]
    return examples, stream[full:]


def trim_text_ends(
    rows: dict[str, list[Any]], indices: list[int], column: str, first_from: int, last_row: int, last_to: int
) -> dict[str, list[Any]]:
    """Row 0 keeps its text from character `first_from`, row `last_row` up to `last_to`: a cut inside a line."""
    texts = [t or "" for t in rows[column]]
    for position, index in enumerate(indices):
        if index == last_row:
            texts[position] = texts[position][:last_to]
        if index == 0:
            texts[position] = texts[position][first_from:]
    return {column: texts}


def text_slice(
    dataset: datasets.Dataset, column: str, lengths: list[int], start: int, end: int
) -> datasets.Dataset:
    """Characters [start, end) of the running text (rows are its lines of `lengths` characters), as rows."""
    offsets = list(itertools.accumulate(lengths, initial=0))  # offsets[r]: the first character of row r
    first = min(
        bisect.bisect_right(offsets, start) - 1, len(lengths) - 1
    )  # the row holding character `start`
    last = max(bisect.bisect_left(offsets, end) - 1, first)  # the row holding character `end - 1`
    rows = dataset.select(range(first, last + 1)).select_columns([column])
    trim = {
        "column": column,
        "first_from": start - offsets[first],
        "last_row": last - first,
        "last_to": end - offsets[last],
    }
    return cached_map(rows, trim_text_ends, trim, batched=True, with_indices=True, desc="cutting the text")


class TokenWindows(Dataset):
    """Windows of `block_size` tokens of one token stream: item i starts at `starts[i]`, or at token i without starts.

    Samplers pick windows by start (`RandomWindowSampler`), so a window may begin at any token. The
    labels run one token past the window, so all `block_size` positions predict a token (nanoGPT's
    x = data[i : i + block_size], y = data[i + 1 : i + 1 + block_size]).
    """

    def __init__(self, stream: torch.Tensor, block_size: int, starts: torch.Tensor | None = None) -> None:
        if len(stream) <= block_size:
            raise DataError(f"a text of {len(stream)} tokens holds no window of block_size={block_size} + 1")
        self.stream = stream  # (tokens,)
        self.block_size = block_size
        self.starts = starts

    def __len__(self) -> int:
        return len(self.starts) if self.starts is not None else len(self.stream) - self.block_size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = int(self.starts[index]) if self.starts is not None else index
        labels = self.stream[start : start + self.block_size + 1]  # (block_size + 1,)
        window = labels[:-1]
        return {"input_ids": window, "attention_mask": torch.ones_like(window), "labels": labels}


class LanguageModelingData(TaskDataModule):
    """Causal LM over plain text files (one line per row) or a text column: next-token prediction.

    `block_size` (default `max_length`) tokens per example; `append_eos` ends each line with the
    tokenizer's EOS (WikiText's `<eos>` convention). Missing splits are carved from the end of train:
    by lines (`carve_fraction`), or by characters with `val_fraction` (nanoGPT: the last 10% of the
    text is validation) and `test_fraction` (the part before it; 0: test is the validation text).

    `sampling`: `blocks` cuts the training text into fixed non-overlapping blocks; `random_windows`
    draws a window starting at a random token for every sequence of every batch (nanoGPT), an epoch
    being `windows_per_epoch` windows (default: as many as there are blocks). `val_windows`: validate
    on that many fixed random windows of the validation text (cheap; null: all of its blocks); test
    always reads all of its blocks. `examples`: each line is one example (cut into pieces of at most
    `block_size`), one per row, padded per batch; attention never crosses lines.

    `packing`: blocks hold whole lines side by side instead of the running text cut across them, each
    line attending to itself only (`nlpzoo.data.packing`); the summary reports the padding fraction the
    same lines would have one per row (`sampling=examples`) beside the packed one.
    """

    task_kind = TaskKind.LANGUAGE_MODELING
    carve_contiguous = True
    supports_streaming = True

    def __init__(
        self,
        text_column: str | list[str] = "text",
        block_size: int | None = None,
        append_eos: bool = False,
        sampling: Literal["blocks", "random_windows", "examples"] = "blocks",
        packing: bool = False,
        windows_per_epoch: int | None = None,
        val_windows: int | None = None,
        val_fraction: float | None = None,
        test_fraction: float | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.text_column = text_column
        self.block_size = block_size or self.max_length
        if self.block_size < 2:
            raise DataError(f"block_size={self.block_size}: a block needs at least 2 tokens")
        self.append_eos = append_eos
        if sampling not in ("blocks", "random_windows", "examples"):
            raise DataError(f"sampling={sampling!r}: choose blocks, random_windows or examples")
        if packing and sampling != "blocks":
            raise DataError(f"packing=true packs lines into blocks: it needs sampling=blocks, not {sampling}")
        for name, value in (("windows_per_epoch", windows_per_epoch), ("val_windows", val_windows)):
            if value is not None and value < 1:
                raise DataError(f"{name}={value} must be at least 1 (or null)")
        if val_fraction is not None and not 0 < val_fraction < 1:
            raise DataError(f"val_fraction={val_fraction} must lie in (0, 1)")
        if test_fraction is not None and (val_fraction is None or not 0 <= test_fraction < 1 - val_fraction):
            raise DataError(
                f"test_fraction={test_fraction} needs val_fraction and must lie in [0, 1 - val_fraction)"
            )
        if self.streaming and (sampling != "blocks" or packing):
            raise DataError(
                "data.streaming=true serves the stream as blocks cut from the running text: set "
                "data.sampling=blocks and data.packing=false"
            )
        self.sampling = sampling
        self.packing = packing
        self.unpacked_lengths: list[int] = []  # with packing: the training lines' lengths one per row
        self.windows_per_epoch = windows_per_epoch
        self.val_windows = val_windows
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction

    def read_splits(self) -> dict[str, datasets.Dataset]:
        """The source's splits; with `val_fraction`, missing validation/test cut from the training text's end by characters."""
        splits = super().read_splits()
        if self.val_fraction is None or ("validation" in splits and "test" in splits):
            return splits
        train = splits["train"]
        column = first_present_column(train, self.text_column, "text", self.where("train"))
        lengths = pc.utf8_length(pc.fill_null(train.with_format("arrow")[column], "")).to_pylist()
        total = sum(lengths)
        val_start = int(total * (1 - self.val_fraction))  # nanoGPT: val_data = data[int(n * 0.9):]
        test_start = int(total * (1 - self.val_fraction - (self.test_fraction or 0.0)))
        carved = f"carved from {self.split_sources.get('train')}"
        if "validation" not in splits:
            splits["validation"] = text_slice(train, column, lengths, val_start, total)
            self.split_sources["validation"] = f"{carved} (its last {self.val_fraction:.0%} of characters)"
        if "test" not in splits:
            if test_start < val_start:
                splits["test"] = text_slice(train, column, lengths, test_start, val_start)
                self.split_sources["test"] = (
                    f"{carved} (the {self.test_fraction:.0%} of characters before validation)"
                )
            else:
                splits["test"] = splits["validation"]
                self.split_sources["test"] = self.split_sources["validation"]
        splits["train"] = text_slice(train, column, lengths, 0, min(test_start, val_start))
        return splits

    def text_columns(self, split: str, dataset: datasets.Dataset) -> list[str]:
        return [first_present_column(dataset, self.text_column, "text", self.where(split))]

    def training_texts(self, train: datasets.Dataset) -> list[str]:
        column = first_present_column(train, self.text_column, "text", self.where("train"))
        return [t or "" for t in column_values(train, column)]

    def eos_id(self) -> int | None:
        if not self.append_eos:
            return None
        eos = (
            self.tokenizer.eos_token_id
            if self.tokenizer.eos_token_id is not None
            else self.tokenizer.sep_token_id
        )
        if eos is None:
            raise DataError("append_eos=true but the tokenizer has no EOS or SEP token")
        return eos

    def encode_splits(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        encoded = {}
        for split, dataset in splits.items():
            column = first_present_column(dataset, self.text_column, "text", self.where(split))
            lines = self.map_split(
                dataset,
                encode_lines,
                split,
                tokenizer=self.tokenizer,
                text_column=column,
                eos_id=self.eos_id(),
            )
            if self.windowed(split):
                encoded[split] = self.windows(lines, split)
                continue
            encoded[split] = self.blocks(lines, split)
            if self.packing and split == "train":
                unpacked = self.blocks(lines, split, split_examples)
                self.unpacked_lengths = pc.list_value_length(
                    unpacked.with_format("arrow")["input_ids"]
                ).to_pylist()
            if len(encoded[split]) == 0:
                raise DataError(f"{self.where(split)} holds fewer than 2 tokens: no block to learn from")
        return encoded

    def blocks(self, lines: datasets.Dataset, split: str, cut: Any = None) -> datasets.Dataset:
        """The split's lines as rows: cut from the running text, one line each, or packed (`cut` overrides)."""
        if cut is None:
            cut = (
                pack_examples
                if self.packing
                else split_examples
                if self.sampling == "examples"
                else cut_blocks
            )
        return cached_map(
            lines,
            cut,
            {"block_size": self.block_size},
            batched=True,
            batch_size=LINES_PER_GROUP,
            remove_columns=lines.column_names,
            desc=f"{cut.__name__} of {split} (block_size {self.block_size})",
        )

    def streaming_encoder(self, head: datasets.Dataset) -> Encoder:
        column = first_present_column(head, self.text_column, "text", self.where("train"))
        return partial(
            encode_stream_blocks,
            tokenizer=self.tokenizer,
            text_column=column,
            eos_id=self.eos_id(),
            block_size=self.block_size,
        )

    def windowed(self, split: str) -> bool:
        """Whether this split is served as windows of the token stream rather than blocks."""
        return (split == "train" and self.sampling == "random_windows") or (
            split == "validation" and bool(self.val_windows)
        )

    def windows(self, lines: datasets.Dataset, split: str) -> TokenWindows:
        """The split's token stream as windows: all starts (train, a sampler draws them) or `val_windows` fixed ones."""
        ids = pc.list_flatten(lines.with_format("arrow")["input_ids"]).to_numpy(zero_copy_only=False)
        stream = torch.from_numpy(ids.astype("int64"))
        if len(stream) <= self.block_size:
            raise DataError(
                f"{self.where(split)} holds {len(stream)} tokens, not more than block_size={self.block_size}"
            )
        if split == "train":
            return TokenWindows(stream, self.block_size)
        generator = torch.Generator().manual_seed(self.seed)
        count = int(self.val_windows or 0)  # set: `windowed` serves validation windows only then
        starts = torch.randint(len(stream) - self.block_size, (count,), generator=generator)
        return TokenWindows(stream, self.block_size, starts)

    def train_sampler(self) -> Sampler[int]:
        if self.sampling != "random_windows":
            return super().train_sampler()
        train = self.splits["train"]
        per_epoch = self.windows_per_epoch or max(1, len(train.stream) // self.block_size)
        return RandomWindowSampler(len(train), per_epoch, seed=self.seed)

    def lengths(self, split: str) -> list[int]:
        if isinstance(self.splits.get(split), TokenWindows):
            return [self.block_size] * len(self.splits[split])
        return super().lengths(split)

    def padding_fraction(self, split: str = "train") -> float | None:
        if isinstance(self.splits.get(split), TokenWindows):
            return 0.0  # every window is block_size tokens
        return super().padding_fraction(split)

    def padding_report(self) -> dict[str, float | None]:
        if not self.packing:
            return super().padding_report()
        return {
            **super().padding_report(),
            "padding_fraction_unpacked": self.padding_of(self.unpacked_lengths, "train"),
        }

    def build_spec(self) -> TaskSpec:
        return self.make_spec(max_length=self.block_size, char_level=is_character_level(self.tokenizer))


class MaskingCollator(PaddingCollator):
    """Pads, then masks tokens afresh each batch (BERT: of the chosen 15%, 80% [MASK], 10% random, 10% kept).

    The masking is `transformers.DataCollatorForLanguageModeling`'s; labels are -100 except at chosen positions.
    """

    def __init__(
        self, tokenizer: Any, probability: float, mask_replace_prob: float, random_replace_prob: float
    ) -> None:
        super().__init__({"input_ids": tokenizer.pad_token_id, "labels": IGNORE_INDEX})
        self.masker = DataCollatorForLanguageModeling(
            tokenizer,
            mlm_probability=probability,
            mask_replace_prob=mask_replace_prob,
            random_replace_prob=random_replace_prob,
        )
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().__call__(examples)
        special = torch.isin(batch["input_ids"], self.special_ids) | (
            batch["attention_mask"] == 0
        )  # (batch, seq)
        batch["input_ids"], batch["labels"] = self.masker.torch_mask_tokens(
            batch["input_ids"].clone(), special
        )
        return batch


class MaskedLanguageModelingData(LanguageModelingData):
    """Masked LM (BERT-style, for encoders) over the same blocks; masks are drawn per batch."""

    task_kind = TaskKind.MASKED_LANGUAGE_MODELING

    def __init__(
        self,
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if not 0 < mlm_probability < 1 or mask_replace_prob + random_replace_prob > 1:
            raise DataError(
                f"mlm_probability={mlm_probability} must lie in (0, 1) and mask_replace_prob + random_replace_prob "
                f"= {mask_replace_prob + random_replace_prob} must be at most 1"
            )
        self.mlm_probability = mlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob

    def encode_splits(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        if self.packing:
            raise DataError("packing=true keeps causal attention inside each line: it serves causal LM only")
        if self.tokenizer.mask_token_id is None:
            raise DataError("masked LM needs a tokenizer with a mask token ([MASK]); this one has none")
        return super().encode_splits(splits)

    def collator(self) -> MaskingCollator:
        return MaskingCollator(
            self.tokenizer, self.mlm_probability, self.mask_replace_prob, self.random_replace_prob
        )
