"""Text classification: one text (or a text pair) and one label per example."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import datasets

from nlpzoo.data.base import TRUNCATED, TaskDataModule, report_truncation, truncated_flags
from nlpzoo.data.caching import cached_map
from nlpzoo.data.sources import column_values, first_present_column
from nlpzoo.data.streaming import Encoder
from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import TaskKind, TaskSpec


def has_label(row: dict[str, Any], label_column: str) -> bool:
    """Rows to keep: those with a label (GLUE marks hidden test labels -1)."""
    return row[label_column] not in (None, -1)


def label_ids(values: list[Any], label_index: dict[str, int], where: str) -> list[int]:
    """Label names or indices -> class ids; a label the training split never had is an error."""
    ids = []
    for value in values:
        if str(value) not in label_index:
            raise DataError(f"unknown label {value!r} in {where}; known labels: {sorted(label_index)}")
        ids.append(label_index[str(value)])
    return ids


def encode_pairs(
    tokenizer: Any, first: list[str], second: list[str], pair_encoding: str, max_length: int
) -> dict[str, list[Any]]:
    """Token ids of sentence pairs, joint (`cross`) or apart (`bi`, second sentence under `*_b` keys)."""
    first = [t or "" for t in first]
    second = [t or "" for t in second]
    if pair_encoding == "cross":
        encoded = tokenizer(first, second, truncation=True, max_length=max_length)
        keys = ["input_ids", "attention_mask", *(["token_type_ids"] if "token_type_ids" in encoded else [])]
        return {key: encoded[key] for key in keys}
    a = tokenizer(first, truncation=True, max_length=max_length)
    b = tokenizer(second, truncation=True, max_length=max_length)
    return {
        "input_ids": a["input_ids"],
        "attention_mask": a["attention_mask"],
        "input_ids_b": b["input_ids"],
        "attention_mask_b": b["attention_mask"],
    }


def encode_classification_batch(
    rows: dict[str, list[Any]],
    tokenizer: Any,
    text_column: str,
    pair_column: str | None,
    label_column: str,
    label_index: dict[str, int],
    max_length: int,
    where: str,
    pair_encoding: str | None = None,
) -> dict[str, list[Any]]:
    """Tokenize a batch of rows and map labels to ids (a module-level function so `datasets` caches it);
    NLI's premise/hypothesis pairs (`pair_encoding`) as `encode_pairs` encodes them."""
    labels = label_ids(rows[label_column], label_index, where)
    if pair_encoding is not None:
        texts = rows[pair_column or text_column]
        return {
            **encode_pairs(tokenizer, rows[text_column], texts, pair_encoding, max_length),
            "labels": labels,
        }
    features = tokenizer(
        [t or "" for t in rows[text_column]],
        [t or "" for t in rows[pair_column]] if pair_column else None,
        truncation=True,
        max_length=max_length,
    )
    return {
        "input_ids": features["input_ids"],
        "attention_mask": features["attention_mask"],
        "labels": labels,
        TRUNCATED: truncated_flags(features),
    }


def encode_streamed_rows(
    rows: list[dict[str, Any]],
    carry: list[int],
    function: Callable[..., dict[str, list[Any]]],
    **options: Any,
) -> tuple[list[dict[str, Any]], list[int]]:
    """A streamed chunk of rows as examples: labelled rows only, encoded by the module's `encode_function`."""
    rows = [row for row in rows if has_label(row, options["label_column"])]
    if not rows:
        return [], carry
    columns = {key: [row.get(key) for row in rows] for key in rows[0]}
    encoded = function(columns, **options)
    encoded.pop(TRUNCATED, None)
    return [dict(zip(encoded, values, strict=True)) for values in zip(*encoded.values(), strict=True)], carry


class TextClassificationData(TaskDataModule):
    """Sentiment, topic, intent...: `text_column` (a name, or candidate names tried in order, since
    files sometimes name the column differently per split) and `label_column`.

    Label names are given (`label_names`) or inferred from the training split; a label in
    validation/test that training never saw is an error, not a silent new class.
    """

    task_kind = TaskKind.TEXT_CLASSIFICATION
    supports_streaming = True
    encode_function: ClassVar[Callable[..., dict[str, list[Any]]]] = staticmethod(encode_classification_batch)

    def __init__(
        self,
        text_column: str | list[str] = "text",
        label_column: str = "label",
        text_pair_column: str | list[str] | None = None,
        label_names: list[str] | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.text_column = text_column
        self.label_column = label_column
        self.text_pair_column = text_pair_column
        self.label_names: list[str] = list(label_names) if label_names else []

    def text_columns(self, split: str, dataset: datasets.Dataset) -> list[str]:
        text, pair = self._columns(dataset, split)
        return [text] + ([pair] if pair else [])

    def _columns(self, dataset: datasets.Dataset, split: str) -> tuple[str, str | None]:
        where = self.where(split)
        text = first_present_column(dataset, self.text_column, "text", where)
        pair = None
        if self.text_pair_column:
            pair = first_present_column(dataset, self.text_pair_column, "text pair", where)
        first_present_column(dataset, self.label_column, "label", where)
        return text, pair

    def check_raw_split(self, split: str, dataset: datasets.Dataset) -> None:
        self._columns(dataset, split)

    def training_texts(self, train: datasets.Dataset) -> list[str]:
        text, pair = self._columns(train, "train")
        texts = [t or "" for t in column_values(train, text)]
        if pair:
            texts += [t or "" for t in column_values(train, pair)]
        return texts

    def _infer_label_names(self, train: datasets.Dataset) -> list[str]:
        feature = train.features.get(self.label_column)
        if isinstance(feature, datasets.ClassLabel):
            return list(feature.names)
        values = {v for v in column_values(train, self.label_column) if v is not None and v != -1}
        if not values:
            raise DataError(f"the training split has no labels in column '{self.label_column}'")
        if all(isinstance(v, int) for v in values):
            return [str(v) for v in range(max(values) + 1)]
        return sorted(str(v) for v in values)

    def encode_splits(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        if not self.label_names:
            if "train" not in splits:
                raise DataError(
                    "data.streaming=true cannot read every training label before training: "
                    "give them with data.label_names=[NAME, ...]"
                )
            self.label_names = self._infer_label_names(splits["train"])
        label_index = self.label_index()
        encoded = {}
        for split, dataset in splits.items():
            text, pair = self._columns(dataset, split)
            labeled = cached_map(dataset, has_label, {"label_column": self.label_column}, keep=True)
            if len(labeled) == 0:
                raise DataError(f"{self.where(split)} has no labelled rows in column '{self.label_column}'")
            tokenized = self.map_split(
                labeled,
                self.encode_function,
                split,
                tokenizer=self.tokenizer,
                text_column=text,
                pair_column=pair,
                label_column=self.label_column,
                label_index=label_index,
                max_length=self.max_length,
                where=self.where(split),
                **self.encode_options(),
            )
            encoded[split] = report_truncation(tokenized, split, self.max_length)
        return encoded

    def label_index(self) -> dict[str, int]:
        """Label name or index (int labels with given names) -> class id."""
        return {
            **{str(i): i for i in range(len(self.label_names))},
            **{n: i for i, n in enumerate(self.label_names)},
        }

    def streaming_encoder(self, head: datasets.Dataset) -> Encoder:
        text, pair = self._columns(head, "train")
        return partial(
            encode_streamed_rows,
            function=self.encode_function,
            tokenizer=self.tokenizer,
            text_column=text,
            pair_column=pair,
            label_column=self.label_column,
            label_index=self.label_index(),
            max_length=self.max_length,
            where=self.where("train"),
            **self.encode_options(),
        )

    def encode_options(self) -> dict[str, Any]:
        """Extra keyword arguments of `encode_function` (subclasses that encode differently add theirs)."""
        return {}

    def build_spec(self) -> TaskSpec:
        return self.make_spec(label_names=self.label_names)
