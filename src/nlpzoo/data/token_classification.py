"""Token classification (NER, POS): one tag per word, aligned to the tokenizer's subwords."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.collate import PaddingCollator
from nlpzoo.data.readers import read_conll
from nlpzoo.data.sources import column_values, first_present_column, load_local_file
from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import IGNORE_INDEX, TaskKind, TaskSpec
from nlpzoo.tasks.tagging import (
    SCHEMES,
    convert_tags,
    detect_scheme,
    entity_types,
    scheme_labels,
    tag_problem,
)

TABLE_SUFFIXES = {".json", ".jsonl", ".parquet", ".csv"}


def encode_token_batch(
    rows: dict[str, list[Any]],
    tokenizer: Any,
    tokens_column: str,
    tags_column: str,
    tag_names: list[str] | None,
    scheme: str | None,
    output_scheme: str | None,
    label_index: dict[str, int],
    label_all_subwords: bool,
    max_length: int,
    where: str,
    max_word_chars: int = 0,
) -> dict[str, list[Any]]:
    """Subword ids, and each word's label on its first subword (or on all of them); -100 elsewhere.

    `word_ids` (-1 on special tokens) lets an objective read predictions back per word. With
    `max_word_chars` > 0, `char_ids` gives each token its word's first characters as Unicode
    code points (0-padded to that width), for character-level word features.
    """
    encoded = tokenizer(rows[tokens_column], is_split_into_words=True, truncation=True, max_length=max_length)
    all_labels, all_word_ids, all_char_ids = [], [], []
    for index, tags in enumerate(rows[tags_column]):
        tags = [tag_names[t] for t in tags] if tag_names else list(tags)
        place = (
            f"{where}, line {rows['line'][index]}"
            if "line" in rows
            else f"{where}, example {rows[tokens_column][index][:8]}"
        )
        if len(tags) != len(rows[tokens_column][index]):
            raise DataError(f"{place}: {len(rows[tokens_column][index])} tokens but {len(tags)} tags")
        if scheme:
            problem = tag_problem(tags, scheme)
            if problem:
                raise DataError(f"{place}: {problem}")
            if output_scheme and output_scheme != scheme:
                tags = convert_tags(tags, output_scheme)
        unknown = sorted(set(tags) - set(label_index))
        if unknown:
            raise DataError(f"{place}: unknown tag(s) {unknown}; known: {sorted(label_index)}")
        word_ids = [-1 if w is None else w for w in encoded.word_ids(index)]
        labels, previous = [], -1
        for word in word_ids:
            first = word != previous
            previous = word
            labels.append(
                label_index[tags[word]] if word >= 0 and (first or label_all_subwords) else IGNORE_INDEX
            )
        all_labels.append(labels)
        all_word_ids.append(word_ids)
        if max_word_chars:
            words = rows[tokens_column][index]
            all_char_ids.append(
                [word_code_points(words[w] if w >= 0 else "", max_word_chars) for w in word_ids]
            )
    features = {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "labels": all_labels,
        "word_ids": all_word_ids,
    }
    if max_word_chars:
        features["char_ids"] = all_char_ids  # (T, max_word_chars) per example
    return features


def word_code_points(word: str, width: int) -> list[int]:
    """The word's first `width` characters as Unicode code points, right-padded with 0."""
    points = [ord(char) for char in word[:width]]
    return points + [0] * (width - len(points))


class TokenClassificationData(TaskDataModule):
    """Words and their tags from CoNLL column files, jsonl/parquet with token and tag lists, or the hub.

    `tag_scheme` (iob1, iob2, iobes in any case, or auto: detected on the training split) is checked on every
    sentence; `output_scheme` converts the tags (null keeps them). Labels go on the first subword of
    each word, or on all of them with `label_all_subwords`.
    """

    task_kind = TaskKind.TOKEN_CLASSIFICATION

    def __init__(
        self,
        tokens_column: str = "tokens",
        tags_column: str | list[str] = "tags",
        token_column: int = 0,
        tag_column: int = -1,
        tag_scheme: str | None = "auto",
        output_scheme: str | None = None,
        label_names: list[str] | None = None,
        label_all_subwords: bool = False,
        max_word_chars: int = 0,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        for name, value in (("tag_scheme", tag_scheme), ("output_scheme", output_scheme)):
            if value is not None and value.lower() not in (*SCHEMES, "auto"):
                raise DataError(
                    f"{name}={value!r}; valid: {', '.join(SCHEMES)}, auto or null (not a chunking scheme)"
                )
        self.tokens_column = tokens_column
        self.tags_column = tags_column
        self.token_column = token_column
        self.tag_column = tag_column
        self.tag_scheme = tag_scheme.lower() if tag_scheme else None
        self.output_scheme = output_scheme.lower() if output_scheme else None
        self.label_names: list[str] = list(label_names) if label_names else []
        self.label_all_subwords = label_all_subwords
        self.max_word_chars = max_word_chars

    def read_file(self, path: Path) -> datasets.Dataset:
        suffixes = {s.lower() for s in path.suffixes}
        if suffixes & TABLE_SUFFIXES:
            return load_local_file(path, self.reader_options, self.file_format)
        return read_conll(path, self.token_column, self.tag_column)

    def text_columns(self, split: str, dataset: datasets.Dataset) -> list[str]:
        """The token lists: cleaning repairs them token by token, so the tags stay aligned."""
        return [first_present_column(dataset, self.tokens_column, "tokens", self.where(split))]

    def training_texts(self, train: datasets.Dataset) -> list[str]:
        return [" ".join(tokens) for tokens in column_values(train, self.tokens_column)]

    def _tag_names(self, dataset: datasets.Dataset) -> list[str] | None:
        """Class names when tags are stored as ClassLabel ids (hub datasets), else None."""
        feature = dataset.features.get(self._tags_column(dataset, "train"))
        inner = getattr(feature, "feature", None)
        if isinstance(feature, list) and feature:
            inner = feature[0]
        return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None

    def _tags_column(self, dataset: datasets.Dataset, split: str) -> str:
        return first_present_column(dataset, self.tags_column, "tags", self.where(split))

    def _resolve_labels(self, train: datasets.Dataset) -> None:
        names = self._tag_names(train)
        sequences = column_values(train, self._tags_column(train, "train"))
        if names:
            sequences = [[names[t] for t in tags] for tags in sequences]
        if self.tag_scheme == "auto":
            self.tag_scheme = detect_scheme(sequences)
        if not self.label_names:
            if self.tag_scheme is None:
                self.label_names = sorted({tag for tags in sequences for tag in tags})
            else:
                types = entity_types(tag for tags in sequences for tag in tags)
                self.label_names = scheme_labels(types, self.output_scheme or self.tag_scheme)

    def encode_splits(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        self._resolve_labels(splits["train"])
        label_index = {name: i for i, name in enumerate(self.label_names)}
        encoded = {}
        for split, dataset in splits.items():
            first_present_column(dataset, self.tokens_column, "tokens", self.where(split))
            encoded[split] = self.map_split(
                dataset,
                encode_token_batch,
                split,
                tokenizer=self.tokenizer,
                tokens_column=self.tokens_column,
                tags_column=self._tags_column(dataset, split),
                tag_names=self._tag_names(dataset),
                scheme=self.tag_scheme,
                output_scheme=self.output_scheme,
                label_index=label_index,
                label_all_subwords=self.label_all_subwords,
                max_length=self.max_length,
                where=self.where(split),
                max_word_chars=self.max_word_chars,
            )
        return encoded

    def collator(self) -> PaddingCollator:
        return PaddingCollator(
            {"input_ids": self.tokenizer.pad_token_id, "labels": IGNORE_INDEX, "word_ids": -1}
        )

    def build_spec(self) -> TaskSpec:
        return self.make_spec(label_names=self.label_names, tag_scheme=self.output_scheme or self.tag_scheme)
