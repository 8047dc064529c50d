"""Preference pairs (prompt, chosen, rejected) for DPO: each response follows its prompt, and only the
response's tokens are scored."""

from __future__ import annotations

from typing import Any

import datasets
import pyarrow.compute as pc
import torch.nn.functional as F

from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.collate import PaddingCollator
from nlpzoo.data.sources import column_values, first_present_column
from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import IGNORE_INDEX, TaskKind, TaskSpec

RESPONSES = ("chosen", "rejected")


def encode_preference_batch(
    rows: dict[str, list[Any]],
    tokenizer: Any,
    columns: dict[str, str],
    max_length: int,
    max_prompt_length: int,
    eos_id: int | None,
    where: str,
) -> dict[str, list[Any]]:
    """prompt + chosen and prompt + rejected ids, labels IGNORE_INDEX on the prompt (a module-level function
    so `datasets` caches it). A long prompt keeps its last `max_prompt_length` tokens (those nearest the
    response); a response is cut to fit `max_length`; `eos_id`, when given, ends each response."""
    for role, column in columns.items():
        for index, text in enumerate(rows[column]):
            if text is not None and not isinstance(text, str):
                raise DataError(
                    f"{where}, row {index}: column '{column}' holds {type(text).__name__}, not text; "
                    "conversational pairs (lists of messages) need their text columns, e.g. the last turn"
                )
            if text is None or (role != "prompt" and not text.strip()):
                raise DataError(f"{where}, row {index}: no {role} text in column '{column}'")
    prompts = tokenizer(list(rows[columns["prompt"]]))["input_ids"]  # with the tokenizer's own BOS, if any
    prompts = [ids[-max_prompt_length:] for ids in prompts]
    encoded: dict[str, list[Any]] = {}
    for role in RESPONSES:
        responses = tokenizer(list(rows[columns[role]]), add_special_tokens=False)["input_ids"]
        ids_rows, label_rows = [], []
        for prompt, response in zip(prompts, responses, strict=True):
            response = [*response, eos_id] if eos_id is not None else response
            response = response[: max(1, max_length - len(prompt))]
            ids_rows.append([*prompt, *response])
            label_rows.append([IGNORE_INDEX] * len(prompt) + response)
        encoded[f"{role}_input_ids"] = ids_rows
        encoded[f"{role}_attention_mask"] = [[1] * len(ids) for ids in ids_rows]
        encoded[f"{role}_labels"] = label_rows
    return encoded


class PairCollator(PaddingCollator):
    """Pads a batch of pairs so the chosen and the rejected rows share one width: the family scores
    both in one forward pass of (2 * batch, width)."""

    def __init__(self, pad_token_id: int) -> None:
        pads = {
            f"{role}_{key}": value
            for role in RESPONSES
            for key, value in (("input_ids", pad_token_id), ("labels", IGNORE_INDEX))
        }
        super().__init__(pads)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().__call__(examples)  # each key padded to its own longest
        width = max(batch[f"{role}_input_ids"].shape[1] for role in RESPONSES)
        return {
            key: F.pad(value, (0, width - value.shape[1]), value=self.pad_values.get(key, 0))
            for key, value in batch.items()
        }


class PreferenceData(TaskDataModule):
    """Rows of (prompt, chosen, rejected) texts from jsonl/csv/parquet files or a hub dataset, each column
    a name or candidate names tried in order. The responses are scored as written after the prompt
    (`append_eos`: ended with the tokenizer's EOS, as TRL's DPO does, so stopping is learned too).
    """

    task_kind = TaskKind.PREFERENCE

    def __init__(
        self,
        prompt_column: str | list[str] = "prompt",
        chosen_column: str | list[str] = "chosen",
        rejected_column: str | list[str] = "rejected",
        max_prompt_length: int = 64,
        append_eos: bool = True,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if not 0 < max_prompt_length < self.max_length:
            raise DataError(
                f"max_prompt_length={max_prompt_length} must be at least 1 and below max_length={self.max_length}"
            )
        self.candidates = {"prompt": prompt_column, "chosen": chosen_column, "rejected": rejected_column}
        self.max_prompt_length = max_prompt_length
        self.append_eos = append_eos

    def _columns(self, dataset: datasets.Dataset, split: str) -> dict[str, str]:
        return {
            role: first_present_column(dataset, names, role, self.where(split))
            for role, names in self.candidates.items()
        }

    def check_raw_split(self, split: str, dataset: datasets.Dataset) -> None:
        self._columns(dataset, split)

    def text_columns(self, split: str, dataset: datasets.Dataset) -> list[str]:
        return list(self._columns(dataset, split).values())

    def training_texts(self, train: datasets.Dataset) -> list[str]:
        return [
            t or "" for column in self._columns(train, "train").values() for t in column_values(train, column)
        ]

    def eos_id(self) -> int | None:
        if not self.append_eos:
            return None
        if self.tokenizer.eos_token_id is None:
            raise DataError("append_eos=true but the tokenizer has no EOS token: set data.append_eos=false")
        return self.tokenizer.eos_token_id

    def encode_splits(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        return {
            split: self.map_split(
                dataset,
                encode_preference_batch,
                split,
                tokenizer=self.tokenizer,
                columns=self._columns(dataset, split),
                max_length=self.max_length,
                max_prompt_length=self.max_prompt_length,
                eos_id=self.eos_id(),
                where=self.where(split),
            )
            for split, dataset in splits.items()
        }

    def lengths(self, split: str) -> list[int]:
        """Per pair, the longer of its two sequences (the width its batch is padded to)."""
        table = self.splits[split].with_format("arrow")
        chosen, rejected = (pc.list_value_length(table[f"{role}_input_ids"]) for role in RESPONSES)
        return pc.max_element_wise(chosen, rejected).to_pylist()

    def collator(self) -> PairCollator:
        return PairCollator(self.tokenizer.pad_token_id or 0)

    def build_spec(self) -> TaskSpec:
        return self.make_spec()
