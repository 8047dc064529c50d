"""`TaskSpec`: everything a model family needs to know about the data, produced by a DataModule."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class TaskKind(str, Enum):
    """The task kinds of the zoo; each has one objective in `nlpzoo.tasks`."""

    TEXT_CLASSIFICATION = "text_classification"
    TOKEN_CLASSIFICATION = "token_classification"
    EXTRACTIVE_QA = "extractive_qa"
    SEQ2SEQ = "seq2seq"
    LANGUAGE_MODELING = "language_modeling"
    MASKED_LANGUAGE_MODELING = "masked_language_modeling"
    SENTENCE_SIMILARITY = "sentence_similarity"
    NLI = "nli"
    WORD_EMBEDDING = "word_embedding"

    def __str__(self) -> str:
        return self.value


@dataclass
class TaskSpec:
    """The data's side of the contract between a DataModule and a model family.

    Holds only plain values, so it is stored inside every checkpoint (`to_dict`) and a
    model reloads without its DataModule. The tokenizer itself travels separately.
    """

    kind: TaskKind
    vocab_size: int
    pad_token_id: int = 0
    label_names: list[str] = field(default_factory=list)
    unk_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    mask_token_id: int | None = None
    cls_token_id: int | None = None
    sep_token_id: int | None = None
    max_length: int = 512
    max_target_length: int | None = None
    target_vocab_size: int | None = None  # seq2seq with a separate target tokenizer
    pair_encoding: str | None = None  # sentence pairs: "cross" (one joint input) or "bi" (two inputs)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Plain Python values only: the spec is stored in checkpoints loaded with weights_only=True.
        self.kind = TaskKind(self.kind)
        self.label_names = [str(name) for name in self.label_names]
        self.extra = json.loads(json.dumps(dict(self.extra), default=_plain_default))

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        return cls(**data)


def _plain_default(value: Any) -> Any:
    from omegaconf import OmegaConf

    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    raise TypeError(f"TaskSpec.extra values must be plain JSON-like data, got {type(value).__name__}")
