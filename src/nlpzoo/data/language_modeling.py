"""Language modeling: running text tokenized, concatenated and cut into blocks; causal or masked (MLM)."""

from __future__ import annotations

from typing import Any

import datasets
import torch
from transformers import DataCollatorForLanguageModeling

from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.caching import cached_map
from nlpzoo.data.collate import IGNORE_INDEX, PaddingCollator
from nlpzoo.data.sources import column_values, first_present_column
from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import TaskKind, TaskSpec

LINES_PER_GROUP = 10_000  # lines concatenated before cutting blocks; only the group's last block is short


def encode_lines(rows: dict[str, list[Any]], tokenizer: Any, text_column: str, eos_id: int | None) -> dict[str, list[Any]]:
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
    return {"input_ids": blocks, "attention_mask": [[1] * len(b) for b in blocks], "labels": [list(b) for b in blocks]}


class LanguageModelingData(TaskDataModule):
    """Causal LM over plain text files (one line per row) or a text column: next-token prediction.

    `block_size` (default `max_length`) tokens per example; `append_eos` ends each line with the
    tokenizer's EOS (WikiText's `<eos>` convention). Missing splits are carved from the end of train.
    """

    task_kind = TaskKind.LANGUAGE_MODELING
    carve_contiguous = True

    def __init__(
        self, text_column: str | list[str] = "text", block_size: int | None = None, append_eos: bool = False, **common: Any
    ) -> None:
        super().__init__(**common)
        self.text_column = text_column
        self.block_size = block_size or self.max_length
        if self.block_size < 2:
            raise DataError(f"block_size={self.block_size}: a block needs at least 2 tokens")
        self.append_eos = append_eos

    def training_texts(self, train: datasets.Dataset) -> list[str]:
        column = first_present_column(train, self.text_column, "text", self.where("train"))
        return [t or "" for t in column_values(train, column)]

    def eos_id(self) -> int | None:
        if not self.append_eos:
            return None
        eos = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else self.tokenizer.sep_token_id
        if eos is None:
            raise DataError("append_eos=true but the tokenizer has no EOS or SEP token")
        return eos

    def encode_splits(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        encoded = {}
        for split, dataset in splits.items():
            column = first_present_column(dataset, self.text_column, "text", self.where(split))
            lines = self.map_split(dataset, encode_lines, split, tokenizer=self.tokenizer, text_column=column, eos_id=self.eos_id())
            encoded[split] = cached_map(
                lines,
                cut_blocks,
                {"block_size": self.block_size},
                batched=True,
                batch_size=LINES_PER_GROUP,
                remove_columns=lines.column_names,
                desc=f"cutting {split} into blocks",
            )
            if len(encoded[split]) == 0:
                raise DataError(f"{self.where(split)} holds fewer than 2 tokens: no block to learn from")
        return encoded

    def build_spec(self) -> TaskSpec:
        return self.make_spec(
            max_length=self.block_size,
            extra={"block_size": self.block_size, "char_level": is_character_level(self.tokenizer)},
        )


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
        special = torch.isin(batch["input_ids"], self.special_ids) | (batch["attention_mask"] == 0)  # (batch, seq)
        batch["input_ids"], batch["labels"] = self.masker.torch_mask_tokens(batch["input_ids"].clone(), special)
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
        if self.tokenizer.mask_token_id is None:
            raise DataError("masked LM needs a tokenizer with a mask token ([MASK]); this one has none")
        return super().encode_splits(splits)

    def collator(self) -> MaskingCollator:
        return MaskingCollator(self.tokenizer, self.mlm_probability, self.mask_replace_prob, self.random_replace_prob)

    def build_spec(self) -> TaskSpec:
        spec = super().build_spec()
        spec.extra["mlm_probability"] = self.mlm_probability
        return spec
