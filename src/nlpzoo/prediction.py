"""Predictions from a trained checkpoint: `nlpzoo.load(ckpt_or_run_dir).predict(texts)` and `predict.py`.

Raw text is tokenized with the tokenizer stored in the checkpoint, batched with the project's
padding collator, run through the module in inference mode and decoded by the task objective.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from rich.progress import track

from nlpzoo.checkpoint import load_module
from nlpzoo.data.collate import PaddingCollator
from nlpzoo.errors import CheckpointError, DataError, UnsupportedTaskError
from nlpzoo.models.base import ZooModule
from nlpzoo.tasks import TaskKind

# One text (or a text pair) per example.
TEXT_KINDS = (TaskKind.TEXT_CLASSIFICATION, TaskKind.NLI, TaskKind.SENTENCE_SIMILARITY)
WORD_KINDS = (TaskKind.TOKEN_CLASSIFICATION,)  # a text split at whitespace into words, a tag per word
Example = str | tuple[str, str] | dict[str, Any]


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file as given, or a run directory's best checkpoint (summary.json), else its last."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint file or run directory")
    summary = path / "summary.json"
    if summary.is_file():
        best = json.loads(summary.read_text()).get("best_checkpoint")
        if best and Path(best).is_file():
            return Path(best)
    last = path / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    raise CheckpointError(f"{path} has neither a summary.json naming its best checkpoint nor checkpoints/last.ckpt")


class Predictor:
    """A trained module with its tokenizer: `predict(texts)` gives one dict per text (label, score, ...)."""

    def __init__(
        self,
        module: ZooModule,
        tokenizer: Any,
        text_columns: Sequence[str] = ("text",),
        batch_size: int = 32,
        device: str | torch.device = "cpu",
    ) -> None:
        kind = module.spec.kind
        if kind not in TEXT_KINDS + WORD_KINDS:
            served = ", ".join(k.value for k in TEXT_KINDS + WORD_KINDS)
            raise UnsupportedTaskError(f"prediction from raw text serves: {served}; this checkpoint is {kind.value}")
        if tokenizer is None:
            raise CheckpointError("the checkpoint carries no tokenizer, so raw text cannot be encoded")
        self.module = module.to(device).eval()
        self.tokenizer = tokenizer
        self.text_columns = list(text_columns)
        self.batch_size = batch_size
        self.device = torch.device(device)
        pad = tokenizer.pad_token_id or 0
        self.collate = PaddingCollator({"input_ids": pad, "input_ids_b": pad}, passthrough=["words"])

    @property
    def objective(self) -> Any:
        return self.module.objective

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
        raise DataError(f"cannot predict on {type(example).__name__}: give a string, a (text, pair) or a dict")

    def encode(self, examples: Sequence[Example]) -> dict[str, Any]:
        """A padded batch as the family reads it, on the predictor's device."""
        rows = self.encode_words(examples) if self.module.spec.kind in WORD_KINDS else self.encode_texts(examples)
        batch = self.collate(rows)
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def encode_texts(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        texts, pairs = zip(*(self.split_example(e) for e in examples), strict=True)
        has_pairs = any(p is not None for p in pairs)
        pairs = [p or "" for p in pairs] if has_pairs else None
        separate = self.module.spec.pair_encoding == "bi"  # bi-encoders read the two texts apart
        if separate and pairs is None:
            raise DataError("this bi-encoder compares two texts: give (text, text_pair) pairs")
        rows = self._token_rows(texts, None if separate else pairs)
        if separate:
            for row, second in zip(rows, self._token_rows(pairs, None), strict=True):
                row.update({f"{key}_b": value for key, value in second.items()})
        return rows

    def _token_rows(self, texts: Sequence[str], pairs: Sequence[str] | None) -> list[dict[str, Any]]:
        features = self.tokenizer(list(texts), pairs, truncation=True, max_length=self.module.spec.max_length)
        return [
            {"input_ids": ids, "attention_mask": mask}
            for ids, mask in zip(features["input_ids"], features["attention_mask"], strict=True)
        ]

    def encode_words(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """Words (whitespace-split) to subwords; the tag of a word is read at its first subword."""
        words = [self.split_example(e)[0].split() for e in examples]
        features = self.tokenizer(words, is_split_into_words=True, truncation=True, max_length=self.module.spec.max_length)
        rows = []
        for i, row_words in enumerate(words):
            word_ids = features.word_ids(i)
            first = [int(w is not None and (t == 0 or word_ids[t - 1] != w)) for t, w in enumerate(word_ids)]
            rows.append(
                {
                    "input_ids": features["input_ids"][i],
                    "attention_mask": features["attention_mask"][i],
                    "first_subword_mask": first,
                    "words": row_words[: sum(first)],  # words cut off by max_length get no tag
                }
            )
        return rows

    def iter_predict(self, examples: Iterable[Example], progress: bool = False) -> Iterator[dict[str, Any]]:
        """Predictions in input order, computed a batch at a time."""
        examples = list(examples)
        starts = range(0, len(examples), self.batch_size)
        if progress:
            starts = track(starts, description="predicting", total=len(starts))
        with torch.inference_mode():
            for start in starts:
                batch = self.encode(examples[start : start + self.batch_size])
                yield from self.objective.predict(self.module(batch), batch)

    def predict(self, texts: Example | Sequence[Example], progress: bool = False) -> list[dict[str, Any]]:
        """One prediction per text (a pair goes inside the list: `[("premise", "hypothesis")]`)."""
        if isinstance(texts, (str, dict)):
            texts = [texts]
        return self.objective.finalize_predictions(list(self.iter_predict(texts, progress)))


def load(ckpt_or_dir: str | Path, batch_size: int = 32, device: str = "cpu") -> Predictor:
    """A `Predictor` from a checkpoint file or a training run directory."""
    loaded = load_module(find_checkpoint(ckpt_or_dir))
    columns = (loaded.data_config or {}).get("text_column") or ["text"]
    columns = [columns] if isinstance(columns, str) else list(columns)
    return Predictor(loaded.module, loaded.tokenizer, columns, batch_size, device)


def read_inputs(source: str) -> list[Example]:
    """A .jsonl file (one object per line), any other file (one text per line), or the text itself."""
    path = Path(source)
    if not path.is_file():
        return [source]
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix != ".jsonl":
        return lines
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not a JSON object: {error}") from error
    return rows


def write_predictions(
    predictor: Predictor, inputs: Sequence[Example], output: str | Path, progress: bool = True
) -> Path:
    """Predictions as jsonl, one line per input with the input echoed under `input`."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    predictions = predictor.predict(list(inputs), progress=progress)
    with output.open("w", encoding="utf-8") as file:
        for example, prediction in zip(inputs, predictions, strict=True):
            file.write(json.dumps({"input": example, **prediction}, ensure_ascii=False) + "\n")
    return output


def run_prediction(cfg: DictConfig) -> Path:
    """The recipe behind `predict.py`: checkpoint + input file or text -> predictions.jsonl."""
    predictor = load(cfg.ckpt_path, batch_size=cfg.batch_size, device=cfg.device)
    output = write_predictions(predictor, read_inputs(str(cfg.input)), cfg.output, progress=cfg.progress)
    print(f"predictions: {output}")
    return output
