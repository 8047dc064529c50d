"""Extractive QA predictions: a question and its context in, the answer span of the context out.

Contexts are cut into the same overlapping windows as in training (`encode_qa_batch`), and the
QA objective picks each window's best span and each example's best window, as in evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from nlpzoo.data.collate import PaddingCollator
from nlpzoo.data.question_answering import encode_qa_batch
from nlpzoo.errors import DataError
from nlpzoo.models.base import ZooModule
from nlpzoo.prediction.base import Example, Predictor
from nlpzoo.tasks import Batch, TaskKind

# Raw inputs carry no gold answer to locate.
NO_ANSWERS: dict[str, list[Any]] = {"text": [], "answer_start": []}


class QuestionAnsweringPredictor(Predictor):
    """`predict([{"question": ..., "context": ...}])` -> [{"answer", "start", "end", "score"}], characters
    `start:end` of the context; `score` is the span's start + end logit (None when no span fits)."""

    kinds = (TaskKind.EXTRACTIVE_QA,)

    def __init__(
        self,
        module: ZooModule,
        tokenizer: Any,
        question_column: str = "question",
        context_column: str = "context",
        batch_size: int = 32,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(module, tokenizer, batch_size, device)
        self.fields = (question_column, context_column)
        self.stride = module.spec.stride  # the training windows' overlap (QA data sets it)
        self.collate = PaddingCollator(
            {"input_ids": tokenizer.pad_token_id or 0, "offset_mapping": -1},
            passthrough=("example_id", "context", "answers"),
        )

    def question_and_context(self, example: Example) -> tuple[str, str]:
        """The two texts of a jsonl row (the training data's column names, or question/context)."""
        names = [self.fields, ("question", "context")]
        if isinstance(example, dict):
            for question, context in names:
                if isinstance(example.get(question), str) and isinstance(example.get(context), str):
                    return example[question], example[context]
        expected = " or ".join(f'{{"{q}": ..., "{c}": ...}}' for q, c in dict.fromkeys(names))
        raise DataError(
            f"extractive QA input must be an object {expected} (a jsonl line or a JSON string); got {example!r}"[
                :500
            ]
        )

    def encode(self, examples: Sequence[Example]) -> Batch:
        """Windows of every example, with the offsets and contexts the objective decodes spans with."""
        questions, contexts = zip(*(self.question_and_context(e) for e in examples), strict=True)
        rows = {
            "question": list(questions),
            "context": list(contexts),
            "answers": [NO_ANSWERS] * len(examples),
            "id": list(range(len(examples))),
        }
        windows = encode_qa_batch(
            rows,
            self.tokenizer,
            "question",
            "context",
            "answers",
            "id",
            max_length=self.module.spec.max_length,
            stride=self.stride,
            where="prediction input",
        )
        keys = list(windows)
        return self.to_device(
            self.collate(
                [dict(zip(keys, values, strict=True)) for values in zip(*windows.values(), strict=True)]
            )
        )

    def predict_encoded(self, batch: Batch) -> list[dict[str, Any]]:
        best = super().predict_encoded(batch)  # one per example: its best window's span, in input order
        return [
            {
                "answer": b["answer"],
                "start": b["start_char"],
                "end": b["end_char"],
                "score": b["score"] if math.isfinite(b["score"]) else None,
            }
            for b in best
        ]
