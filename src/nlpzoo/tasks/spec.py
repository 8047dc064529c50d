"""`TaskSpec`: everything a model family needs to know about the data, produced by a DataModule.

`IGNORE_INDEX` is the label of positions that carry none (padding, special tokens, non-first
subwords): cross-entropy skips it, and every DataModule, objective and metric uses this one value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

IGNORE_INDEX = -100  # PyTorch's and Hugging Face's default `ignore_index`


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
    PREFERENCE = "preference"

    def __str__(self) -> str:
        return self.value


@dataclass
class TaskSpec:
    """The data's side of the contract between a DataModule and a model family.

    Holds only plain values, so it is stored inside every checkpoint (`to_dict`) and a
    model reloads without its DataModule. The tokenizer itself travels separately.
    Fields after `pair_encoding` concern one task kind each; other kinds leave the defaults.
    """

    kind: TaskKind
    vocab_size: int
    pad_token_id: int = 0
    label_names: list[str] = field(default_factory=list)
    unk_token_id: int | None = None
    bos_token_id: int | None = None  # also the decoder's start token in seq2seq
    eos_token_id: int | None = None
    mask_token_id: int | None = None
    cls_token_id: int | None = None
    sep_token_id: int | None = None
    max_length: int = 512
    max_target_length: int | None = None
    target_vocab_size: int | None = (
        None  # seq2seq with a separate target tokenizer; None: one shared vocabulary
    )
    pair_encoding: str | None = None  # sentence pairs: "cross" (one joint input) or "bi" (two inputs)
    tag_scheme: str | None = None  # token classification: iob1, iob2 or iobes; None: inferred from the tags
    stride: int = 0  # extractive QA: tokens shared by consecutive windows of a long context
    target_pad_token_id: int | None = None  # seq2seq: the target tokenizer's padding; None: pad_token_id
    seq2seq_task: str | None = None  # seq2seq: "translation" or "summarization" (which adds ROUGE)
    prompt: str | None = None  # seq2seq for a decoder-only model: the prompt template around "{source}"
    char_level: bool = False  # language modeling: tokens are characters, so bits per character are reported
    score_range: list[float] = field(default_factory=list)  # sentence similarity: [low, high] of the labels
    # Word embeddings, whose corpus vocabulary has no tokenizer:
    words: list[str] = field(default_factory=list)  # the vocabulary, in id order
    counts: list[int] = field(default_factory=list)  # corpus frequency of each id
    batch_format: str | None = None  # "windows" (word2vec, fastText) or "cooccurrence" (GloVe)
    similarity_benchmarks: list[str] = field(default_factory=list)  # word-similarity sets evaluated
    analogies: bool = False  # whether an analogy set is evaluated
    analogy_restrict_vocab: int = 30_000  # analogy answers come from this many most frequent words

    def __post_init__(self) -> None:
        # Plain Python values only: the spec is stored in checkpoints loaded with weights_only=True,
        # and lists may arrive as OmegaConf containers or numpy values.
        self.kind = TaskKind(self.kind)
        self.label_names = [str(name) for name in self.label_names]
        self.score_range = [float(value) for value in self.score_range]
        self.words = [str(word) for word in self.words]
        self.counts = [int(count) for count in self.counts]
        self.similarity_benchmarks = [str(name) for name in self.similarity_benchmarks]

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        """The spec a checkpoint stored; older checkpoints kept some fields in an `extra` dict."""
        data = dict(data)
        names = {spec_field.name for spec_field in fields(cls)}
        # Keys of `extra` that restated another field or that nothing read are dropped.
        for key, value in (data.pop("extra", None) or {}).items():
            if key in names:
                data.setdefault(key, value)
        return cls(**data)
