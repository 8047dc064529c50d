"""Predictions on texts and text pairs: labels with scores (classification, NLI, similarity) and tags per word."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from nlpzoo.data.collate import PaddingCollator
from nlpzoo.data.sentence_pairs import encode_pairs
from nlpzoo.data.token_classification import word_code_points
from nlpzoo.errors import DataError
from nlpzoo.models.base import ZooModule
from nlpzoo.prediction.base import Example, Predictor
from nlpzoo.tasks import Batch, TaskKind

# One text (or a text pair) per example.
PAIR_KINDS = (TaskKind.NLI, TaskKind.SENTENCE_SIMILARITY)  # encoded as data.sentence_pairs encodes them
TEXT_KINDS = (TaskKind.TEXT_CLASSIFICATION, *PAIR_KINDS)
WORD_KINDS = (TaskKind.TOKEN_CLASSIFICATION,)  # a text split at whitespace into words, a tag per word


class TextPredictor(Predictor):
    """`predict(texts)` gives one dict per text: label and score, a similarity score, or tags and entities."""

    kinds = TEXT_KINDS + WORD_KINDS

    def __init__(
        self,
        module: ZooModule,
        tokenizer: Any,
        text_columns: Sequence[str] = ("text",),
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        max_word_chars: int = 0,
    ) -> None:
        super().__init__(module, tokenizer, batch_size, device)
        self.text_columns = list(text_columns)
        self.max_word_chars = (
            max_word_chars  # > 0: char_ids for a tagger's character features, as in training
        )
        pad = tokenizer.pad_token_id or 0
        self.collate = PaddingCollator({"input_ids": pad, "input_ids_b": pad}, passthrough=["words"])

    def split_example(self, example: Example) -> tuple[str, str | None]:
        """(text, text pair) from a string, a pair, or a jsonl row with a text column and optional `text_pair`."""
        if isinstance(example, str):
            return example, None
        if isinstance(example, (tuple, list)) and len(example) == 2:
            return str(example[0]), str(example[1])
        if isinstance(example, dict):
            for column in [*self.text_columns, "text"]:
                if column in example:
                    return str(example[column]), example.get("text_pair")
            raise DataError(f"input row {example} has none of the text fields {[*self.text_columns, 'text']}")
        raise DataError(
            f"cannot predict on {type(example).__name__}: give a string, a (text, pair) or a dict"
        )

    def encode(self, examples: Sequence[Example]) -> Batch:
        """A padded batch as the family reads it, on the predictor's device."""
        rows = (
            self.encode_words(examples)
            if self.module.spec.kind in WORD_KINDS
            else self.encode_texts(examples)
        )
        return self.to_device(self.collate(rows))

    def encode_texts(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """Rows with exactly the keys the task's DataModule gives its batches, so scores equal evaluation's."""
        texts, pairs = zip(*(self.split_example(e) for e in examples), strict=True)
        spec = self.module.spec
        if spec.kind in PAIR_KINDS:
            if all(p is None for p in pairs):
                raise DataError(
                    f"this {spec.kind.value} model compares two texts: give (text, text_pair) pairs"
                )
            # One joint input with token_type_ids when the tokenizer makes them (cross), or *_b keys (bi).
            features = encode_pairs(
                self.tokenizer, list(texts), list(pairs), spec.pair_encoding or "cross", spec.max_length
            )
        else:  # as encode_classification_batch: the (optional) pair joins the text; ids and mask only
            has_pairs = any(p is not None for p in pairs)
            encoded = self.tokenizer(
                list(texts),
                [p or "" for p in pairs] if has_pairs else None,
                truncation=True,
                max_length=spec.max_length,
            )
            features = {key: encoded[key] for key in ("input_ids", "attention_mask")}
        return [dict(zip(features, values, strict=True)) for values in zip(*features.values(), strict=True)]

    def encode_words(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """Words (whitespace-split) to subwords; the tag of a word is read at its first subword."""
        words = [self.split_example(e)[0].split() for e in examples]
        features = self.tokenizer(
            words, is_split_into_words=True, truncation=True, max_length=self.module.spec.max_length
        )
        rows = []
        for i, row_words in enumerate(words):
            word_ids = features.word_ids(i)
            first = [int(w is not None and (t == 0 or word_ids[t - 1] != w)) for t, w in enumerate(word_ids)]
            row = {
                "input_ids": features["input_ids"][i],
                "attention_mask": features["attention_mask"][i],
                "first_subword_mask": first,
                "words": row_words[: sum(first)],  # words cut off by max_length get no tag
            }
            if (
                self.max_word_chars
            ):  # (T, max_word_chars): each token's word as code points, as the DataModule
                row["char_ids"] = [
                    word_code_points(row_words[w] if w is not None else "", self.max_word_chars)
                    for w in word_ids
                ]
            rows.append(row)
        return rows
