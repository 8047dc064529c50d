"""`Predictor`: raw examples in, one JSON-ready dict per example out, a batch at a time.

A subclass per input shape (texts and pairs, question + context, source texts, prompts) turns
examples into the padded batch its task's DataModule would serve; the task objective decodes
the module's outputs, so a prediction is exactly what evaluation scored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar

import torch
from rich.progress import track

from nlpzoo.errors import CheckpointError, DataError, UnsupportedTaskError
from nlpzoo.models.base import ZooModule
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskObjective

Example = str | tuple[str, str] | dict[str, Any]


class Predictor:
    """A trained module with its tokenizer; subclasses say which task kinds they serve and how to encode."""

    kinds: ClassVar[tuple[TaskKind, ...]] = ()

    def __init__(
        self, module: ZooModule, tokenizer: Any, batch_size: int = 32, device: str | torch.device = "cpu"
    ) -> None:
        kind = module.spec.kind
        if kind not in self.kinds:
            served = ", ".join(k.value for k in self.kinds)
            raise UnsupportedTaskError(
                f"{type(self).__name__} serves {served}; this checkpoint is {kind.value}"
            )
        if tokenizer is None:
            raise CheckpointError("the checkpoint carries no tokenizer, so raw text cannot be encoded")
        if batch_size < 1:
            raise DataError(f"batch_size={batch_size} must be at least 1")
        self.module = module.to(device).eval()
        # Batch -> outputs dict: the module itself, or a serving backend (ONNX Runtime) with its signature.
        self.model_forward: Callable[[Batch], Outputs] = self.module
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = torch.device(device)

    @property
    def objective(self) -> TaskObjective:
        return self.module.objective

    def encode(self, examples: Sequence[Example]) -> Batch:
        """The padded batch the task's DataModule would serve for these raw examples."""
        raise NotImplementedError

    def predict_batch(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """One prediction per example: the module's outputs decoded by the task objective."""
        return self.predict_encoded(self.encode(examples))

    def predict_encoded(self, batch: Batch) -> list[dict[str, Any]]:
        """The predictions of a batch `encode` made (the server reads the batch too, for drift statistics)."""
        return self.objective.finalize_predictions(self.objective.predict(self.model_forward(batch), batch))

    def to_device(self, batch: Batch) -> Batch:
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def iter_predict(self, examples: Iterable[Example], progress: bool = False) -> Iterator[dict[str, Any]]:
        """Predictions in input order, computed a batch at a time."""
        examples = list(examples)
        batches = range(0, len(examples), self.batch_size)
        starts: Iterable[int] = batches
        if progress:
            starts = track(batches, description="predicting", total=len(batches))
        with torch.inference_mode():
            for start in starts:
                yield from self.predict_batch(examples[start : start + self.batch_size])

    def predict(self, texts: Example | Sequence[Example], progress: bool = False) -> list[dict[str, Any]]:
        """One prediction per example (a pair goes inside the list: `[("premise", "hypothesis")]`)."""
        if isinstance(texts, (str, dict)):
            texts = [texts]
        return list(self.iter_predict(texts, progress))


def field_of(example: Example, fields: Sequence[str], what: str) -> str:
    """The text of an example: a string as it is, or the first of `fields` present in a jsonl row."""
    if isinstance(example, str):
        return example
    if isinstance(example, dict):
        for name in fields:
            if example.get(name) is not None:
                return str(example[name])
        raise DataError(f"input row {example} has none of the {what} fields {list(fields)}")
    raise DataError(
        f"cannot predict on {type(example).__name__}: give a {what} string or a dict with one of {list(fields)}"
    )
