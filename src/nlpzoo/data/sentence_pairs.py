"""Sentence pairs: similarity scores (STS-B, SICK relatedness) and NLI labels, as a cross- or bi-encoder input.

`pair_encoding="cross"` puts both sentences in one input (`input_ids`, with `token_type_ids` when
the tokenizer makes them); `"bi"` encodes them apart (`input_ids`/`attention_mask` for the first,
`input_ids_b`/`attention_mask_b` for the second), for siamese models that embed each sentence.
"""

from __future__ import annotations

import math
from typing import Any

import datasets

from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.collate import PaddingCollator
from nlpzoo.data.sources import column_values, first_present_column
from nlpzoo.data.text_classification import TextClassificationData, encode_pairs
from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import IGNORE_INDEX, TaskKind, TaskSpec

PAIR_ENCODINGS = ("cross", "bi")


def encode_similarity_batch(
    rows: dict[str, list[Any]],
    tokenizer: Any,
    first_column: str,
    second_column: str,
    score_column: str,
    pair_encoding: str,
    max_length: int,
    where: str,
) -> dict[str, list[Any]]:
    """Sentence pairs with their similarity score as a float label."""
    scores = []
    for index, value in enumerate(rows[score_column]):
        try:
            score = float(value)
        except (TypeError, ValueError):
            score = math.nan
        if math.isnan(score):
            raise DataError(
                f"{where}, row {index + 1} of its batch: score {value!r} in '{score_column}' is not a number"
            )
        scores.append(score)
    pairs = encode_pairs(tokenizer, rows[first_column], rows[second_column], pair_encoding, max_length)
    return {**pairs, "labels": scores}


def check_pair_encoding(pair_encoding: str) -> None:
    if pair_encoding not in PAIR_ENCODINGS:
        raise DataError(f"pair_encoding={pair_encoding!r}; valid: {', '.join(PAIR_ENCODINGS)}")


def pair_collator(tokenizer: Any) -> PaddingCollator:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return PaddingCollator({"input_ids": pad, "input_ids_b": pad, "labels": IGNORE_INDEX})


class NliData(TextClassificationData):
    """Natural language inference (3-way SNLI/MNLI/SICK, 2-way RTE): a premise, a hypothesis, a label."""

    task_kind = TaskKind.NLI

    def __init__(self, pair_encoding: str = "cross", **options: Any) -> None:
        super().__init__(**options)
        if not self.text_pair_column:
            raise DataError("NLI needs text_pair_column (the hypothesis) besides text_column (the premise)")
        check_pair_encoding(pair_encoding)
        self.pair_encoding = pair_encoding

    def encode_options(self) -> dict[str, Any]:
        return {"pair_encoding": self.pair_encoding}

    def collator(self) -> PaddingCollator:
        return pair_collator(self.tokenizer)

    def build_spec(self) -> TaskSpec:
        return self.make_spec(label_names=self.label_names, pair_encoding=self.pair_encoding)


class SentenceSimilarityData(TaskDataModule):
    """Pairs of sentences with a graded similarity score (STS-B 0-5, SICK relatedness 1-5), as float labels."""

    task_kind = TaskKind.SENTENCE_SIMILARITY

    def __init__(
        self,
        first_column: str = "sentence1",
        second_column: str = "sentence2",
        score_column: str = "score",
        pair_encoding: str = "cross",
        **common: Any,
    ) -> None:
        super().__init__(**common)
        check_pair_encoding(pair_encoding)
        self.first_column = first_column
        self.second_column = second_column
        self.score_column = score_column
        self.pair_encoding = pair_encoding
        self.score_range: list[float] = []

    def text_columns(self, split: str, dataset: datasets.Dataset) -> list[str]:
        self._check_columns(dataset, split)
        return [self.first_column, self.second_column]

    def _check_columns(self, dataset: datasets.Dataset, split: str) -> None:
        for column in (self.first_column, self.second_column, self.score_column):
            first_present_column(dataset, column, column, self.where(split))

    def training_texts(self, train: datasets.Dataset) -> list[str]:
        self._check_columns(train, "train")
        return [
            t or ""
            for column in (self.first_column, self.second_column)
            for t in column_values(train, column)
        ]

    def encode_splits(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        encoded = {}
        for split, dataset in splits.items():
            self._check_columns(dataset, split)
            encoded[split] = self.map_split(
                dataset,
                encode_similarity_batch,
                split,
                tokenizer=self.tokenizer,
                first_column=self.first_column,
                second_column=self.second_column,
                score_column=self.score_column,
                pair_encoding=self.pair_encoding,
                max_length=self.max_length,
                where=self.where(split),
            )
        scores = column_values(encoded["train"], "labels")
        self.score_range = [min(scores), max(scores)]
        return encoded

    def collator(self) -> PaddingCollator:
        return pair_collator(self.tokenizer)

    def build_spec(self) -> TaskSpec:
        return self.make_spec(pair_encoding=self.pair_encoding, score_range=self.score_range)
