"""Extractive question answering (SQuAD): the answer is a span of the context, found through offsets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets

from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.collate import PaddingCollator
from nlpzoo.data.readers import read_squad_json
from nlpzoo.data.sources import column_values, first_present_column, load_local_file
from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import TaskKind, TaskSpec

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

NOT_CONTEXT = (-1, -1)  # offset of question and special tokens: no character of the context


def answer_span(context: str, texts: list[str], starts: list[int], place: str) -> tuple[int, int] | None:
    """Character span of the first answer, after checking every answer lies at its offset."""
    for text, start in zip(texts, starts, strict=True):
        found = context[start : start + len(text)]
        if found != text:
            raise DataError(
                f"{place}: answer {text!r} is not at offset {start} of its context (found {found!r})"
            )
    return (starts[0], starts[0] + len(texts[0])) if texts else None


def token_span(offsets: list[tuple[int, int]], span: tuple[int, int] | None) -> tuple[int, int]:
    """First and last token covering the character span, or (0, 0) when the window does not hold it all."""
    context = [i for i, offset in enumerate(offsets) if offset != NOT_CONTEXT]
    if span is None or not context:
        return 0, 0
    first, last = context[0], context[-1]
    if offsets[first][0] > span[0] or offsets[last][1] < span[1]:
        return 0, 0
    start = next(i for i in context if offsets[i][1] > span[0])
    end = next(i for i in reversed(context) if offsets[i][0] < span[1])
    return start, end


def encode_qa_batch(
    rows: dict[str, list[Any]],
    tokenizer: PreTrainedTokenizerBase,
    question_column: str,
    context_column: str,
    answers_column: str,
    id_column: str,
    max_length: int,
    stride: int,
    where: str,
) -> dict[str, list[Any]]:
    """Question + context windows (a long context gives several, overlapping by `stride` tokens)
    with the answer's first/last token; keeps what decoding needs: offsets, example id, context, answers."""
    encoded = tokenizer(
        [q.lstrip() for q in rows[question_column]],
        rows[context_column],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    spans = [
        answer_span(context, answers["text"], answers["answer_start"], f"{where}, question {qid}")
        for context, answers, qid in zip(
            rows[context_column], rows[answers_column], rows[id_column], strict=True
        )
    ]
    output: dict[str, list[Any]] = {key: [] for key in ("start_positions", "end_positions", "offset_mapping")}
    output.update({"example_id": [], "context": [], "answers": []})
    for window, example in enumerate(encoded["overflow_to_sample_mapping"]):
        sequence_ids = encoded.sequence_ids(window)
        offsets = [
            tuple(offset) if sequence_ids[i] == 1 else NOT_CONTEXT
            for i, offset in enumerate(encoded["offset_mapping"][window])
        ]
        start, end = token_span(offsets, spans[example])
        output["start_positions"].append(start)
        output["end_positions"].append(end)
        output["offset_mapping"].append([list(offset) for offset in offsets])
        output["example_id"].append(str(rows[id_column][example]))
        output["context"].append(rows[context_column][example])
        output["answers"].append(list(rows[answers_column][example]["text"]))
    keys = ["input_ids", "attention_mask", *(["token_type_ids"] if "token_type_ids" in encoded else [])]
    return {**{key: encoded[key] for key in keys}, **output}


class QuestionAnsweringData(TaskDataModule):
    """SQuAD-format data: official JSON (`data` > `paragraphs` > `qas`), jsonl with the hub's columns, or the hub.

    Each answer is checked against its offset. Windows whose context does not hold the whole
    answer point at token 0, as in BERT's SQuAD recipe.
    """

    cleaning_repairs_text = False  # answers are character offsets into the context: filter only

    task_kind = TaskKind.EXTRACTIVE_QA

    def __init__(
        self,
        question_column: str = "question",
        context_column: str = "context",
        answers_column: str = "answers",
        id_column: str = "id",
        stride: int = 128,
        max_length: int = 384,
        **common: Any,
    ) -> None:
        super().__init__(max_length=max_length, **common)
        if not 0 <= stride < self.max_length:
            raise DataError(f"stride={stride} must be at least 0 and below max_length={self.max_length}")
        self.question_column = question_column
        self.context_column = context_column
        self.answers_column = answers_column
        self.id_column = id_column
        self.stride = stride

    def read_file(self, path: Path) -> datasets.Dataset:
        if [s.lower() for s in path.suffixes if s != ".gz"][-1:] == [".json"]:
            return read_squad_json(path)
        return load_local_file(path, self.reader_options, self.file_format)

    def text_columns(self, split: str, dataset: datasets.Dataset) -> list[str]:
        return [self.question_column, self.context_column]

    def training_texts(self, train: datasets.Dataset) -> list[str]:
        contexts = list(dict.fromkeys(column_values(train, self.context_column)))
        return contexts + column_values(train, self.question_column)

    def encode_splits(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        encoded = {}
        for split, dataset in splits.items():
            for column in (self.question_column, self.context_column, self.answers_column, self.id_column):
                first_present_column(dataset, column, column, self.where(split))
            encoded[split] = self.map_split(
                dataset,
                encode_qa_batch,
                split,
                tokenizer=self.tokenizer,
                question_column=self.question_column,
                context_column=self.context_column,
                answers_column=self.answers_column,
                id_column=self.id_column,
                max_length=self.max_length,
                stride=self.stride,
                where=self.where(split),
            )
        return encoded

    def collator(self) -> PaddingCollator:
        return PaddingCollator(
            {"input_ids": self.tokenizer.pad_token_id, "offset_mapping": -1},
            passthrough=("example_id", "context", "answers"),
        )

    def build_spec(self) -> TaskSpec:
        return self.make_spec(stride=self.stride)
