"""What drift monitoring measures per served task kind: one record per request, from the token ids the model
read and the predictor's answer, so export.py's reference profile and the server's live window agree.

    text classification   input_length, unknown_rate, confidence; predicted_label (categorical)
    token classification  input_length, unknown_rate; entity_type (categorical, every predicted entity)
    extractive QA         answer_length (words); no_answer (categorical: answered or not)
    seq2seq, LM           input_length, unknown_rate (of the source or prompt), output_length (words),
                          repetition_rate (share of output words repeating an earlier one)

A categorical statistic gives each request a list of category ids (one label; any number of entities), and
its shares are over all the ids in the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nlpzoo.prediction import LanguageModelPredictor, Predictor
from nlpzoo.tasks import TaskKind, TaskSpec
from nlpzoo.tasks.tagging import entity_types

GENERATING = (TaskKind.SEQ2SEQ, TaskKind.LANGUAGE_MODELING)
KIND_STATISTICS: dict[TaskKind, tuple[str, ...]] = {
    TaskKind.TEXT_CLASSIFICATION: ("input_length", "unknown_rate", "confidence", "predicted_label"),
    TaskKind.TOKEN_CLASSIFICATION: ("input_length", "unknown_rate", "entity_type"),
    TaskKind.EXTRACTIVE_QA: ("answer_length", "no_answer"),
    **{kind: ("input_length", "unknown_rate", "output_length", "repetition_rate") for kind in GENERATING},
}
ALL_STATISTICS = tuple(dict.fromkeys(name for names in KIND_STATISTICS.values() for name in names))
NO_ANSWER = ["answered", "no answer"]


def categories(spec: TaskSpec) -> dict[str, list[str]]:
    """Category names of the kind's categorical statistics (none for generation)."""
    if spec.kind is TaskKind.TEXT_CLASSIFICATION:
        return {"predicted_label": list(spec.label_names) or [str(i) for i in range(spec.num_labels)]}
    if spec.kind is TaskKind.TOKEN_CLASSIFICATION:
        return {"entity_type": entity_types(spec.label_names)}
    if spec.kind is TaskKind.EXTRACTIVE_QA:
        return {"no_answer": NO_ANSWER}
    return {}


def rows_of(batch: dict[str, Any]) -> list[list[int]]:
    """The unpadded token ids of each row of a padded batch (`input_ids`, `attention_mask`: (B, T))."""
    ids, mask = batch["input_ids"].tolist(), batch["attention_mask"].tolist()
    return [[t for t, m in zip(row, keep, strict=True) if m] for row, keep in zip(ids, mask, strict=True)]


def prompt_token_ids(predictor: Predictor, texts: Sequence[str]) -> list[list[int]]:
    """The token ids a generating predictor reads for each text: a prompt's (LM) or an encoded source's."""
    if isinstance(predictor, LanguageModelPredictor):
        return predictor.prompt_ids(texts)
    return rows_of(predictor.encode(texts))


def request_statistics(
    spec: TaskSpec, token_ids: Sequence[Sequence[int]], predictions: Sequence[dict[str, Any]]
) -> dict[str, list[Any]]:
    """The kind's statistics of each request: floats, or lists of category ids for categorical ones.

    `token_ids` are the model's input ids per request (QA reads none: its batches are windows)."""
    kind = spec.kind
    if kind is TaskKind.EXTRACTIVE_QA:
        return {
            "answer_length": [float(len((p["answer"] or "").split())) for p in predictions],
            "no_answer": [[int(p["score"] is None or not p["answer"])] for p in predictions],
        }
    lengths = [len(row) for row in token_ids]
    statistics: dict[str, list[Any]] = {
        "input_length": [float(n) for n in lengths],
        "unknown_rate": [
            sum(t == spec.unk_token_id for t in row) / max(n, 1) if spec.unk_token_id is not None else 0.0
            for row, n in zip(token_ids, lengths, strict=True)
        ],
    }
    if kind is TaskKind.TEXT_CLASSIFICATION:
        statistics["confidence"] = [float(p["score"]) for p in predictions]
        statistics["predicted_label"] = [[int(p["label_id"])] for p in predictions]
    elif kind is TaskKind.TOKEN_CLASSIFICATION:
        index = {name: i for i, name in enumerate(categories(spec)["entity_type"])}
        statistics["entity_type"] = [[index[e["type"]] for e in p["entities"]] for p in predictions]
    else:
        words = [p["generated"].split() for p in predictions]
        statistics["output_length"] = [float(len(w)) for w in words]
        statistics["repetition_rate"] = [1 - len(set(w)) / len(w) if w else 0.0 for w in words]
    return statistics
