"""The shape every task objective has: loss, metrics, decoding — written once per task kind.

The contract between families and objectives (batch keys are Hugging Face's names; "list" keys
are per-example Python lists the collator passes through untouched):

text_classification, nli
    batch:   labels (B,)
    outputs: logits (B, C)
token_classification
    batch:   labels (B, T), -100 where no label (tags are read only where labels != -100);
             for prediction without labels: first_subword_mask (B, T) and list key `words`
    outputs: logits (B, T, C); or predictions (B, T) with loss (a CRF)
extractive_qa
    batch:   start_positions, end_positions (B,); offset_mapping (B, T, 2): character offsets
             into the context, negative or empty for tokens outside it (question, specials,
             padding); in evaluation also list keys example_id, context and answers (gold texts)
    outputs: start_logits, end_logits (B, T)
seq2seq
    batch:   decoder_input_ids, labels (B, S), -100 on padding; optional list key target_text
             (the references as written; else the labels are decoded)
             decoder-only families (spec.prompt, `data.prompt`): input_ids = prompt + response and
             labels (B, T), -100 on the prompt and padding (the prompt is where labels are -100 and
             attention_mask is 1)
    outputs: logits (B, S, V); when not training also generated_ids (B, S') from the family's
             own greedy/beam decoding (may start with the start token; padded after the end);
             decoder-only: loss (the shifted response-token loss), logits (N, V) of the N positions
             that predict a response token, generated_ids the new tokens only
language_modeling
    batch:   labels (B, T) = input_ids, -100 on padding (the objective shifts), or (B, T + 1): the
             input and the token after it, so every position predicts one (random windows); packed
             blocks (data.packing) add document_ids and position_ids (B, T), -100 on each example's
             first token, and the family keeps attention inside each example (`packs_sequences`)
    outputs: logits (B, T, V)
masked_language_modeling
    batch:   labels (B, T), -100 except at masked positions
    outputs: logits (B, T, V)
sentence_similarity
    batch:   labels (B,) float; bi-encoders also input_ids_b, attention_mask_b
    outputs: scores (B,); or embeddings_a, embeddings_b (B, H), compared by cosine
word_embedding
    batch:   family-specific (center, context, negatives)
    outputs: loss; any other 0-dim tensor is averaged over the split and logged under its name
preference
    batch:   chosen_input_ids, chosen_attention_mask, chosen_labels and the same three rejected_* keys
             (B, T): prompt + response, both padded to one width; labels -100 on the prompt and padding
    outputs: chosen_logps, rejected_logps, reference_chosen_logps, reference_rejected_logps (B,): each
             response's summed log-probability under the policy and the frozen reference (no gradient)

Optional outputs of any kind, drawn by the plots (`nlpzoo.callbacks.PlotWriter`) when present:
    attentions (B, heads, T_target, T_source), or (B, T_target, T_source) for one head: the
             attention worth looking at. seq2seq: the (last decoder layer's) cross-attention (rows:
             decoder_input_ids positions, columns: input_ids positions); encoders and decoder-only
             models: the last layer's self-attention over input_ids (T_target = T_source).
A family with word vectors worth showing (the word-embedding families) overrides
`ZooModule.word_vectors()` to return them, (vocab, dim) in token-id order; their words come from
the tokenizer, or from `TaskSpec.words` (id order) when the data has no tokenizer; the plot
shows the most frequent, by `TaskSpec.counts` (id order) when the data counts them.

Whenever a family's outputs carry `loss` (a CRF's negative log-likelihood, a Hugging Face
model's own loss), objectives use it instead of computing one.

Spec fields of one task kind that the objectives read (set by DataModules): `tag_scheme`
("iob1", "iob2", "iobes", see `tasks/tagging.py`; inferred from label names when absent),
`seq2seq_task` ("translation" or "summarization": the latter adds ROUGE), `char_level` (true:
language models report bits per character), `score_range` ([low, high] of similarity labels,
for the cosine loss).

Text: objectives that compare text (seq2seq) or decode predictions get a `decode` callable,
`list[list[int]] -> list[str]`, from the module (`ZooModule.use_tokenizer`); `tasks/` never
imports a tokenizer.

Objective options (label smoothing, maximum answer length, ...) are keyword arguments of each
objective's constructor, given in a model config as `objective: {label_smoothing: 0.1}`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torchmetrics import MetricCollection

from nlpzoo.errors import ConfigError
from nlpzoo.tasks.spec import TaskKind, TaskSpec

Batch = dict[str, Any]  # tensors, plus per-example lists for the list keys above
Outputs = dict[str, torch.Tensor]
Decode = Callable[[list[list[int]]], list[str]]


class TaskObjective:
    """Loss, metrics and prediction decoding for one task kind, shared by every model family.

    A family's `forward(batch)` returns a dict of tensors (`logits`, ...); the objective turns
    that dict and the batch into a loss, metric updates and user-facing predictions.
    """

    kind: ClassVar[TaskKind]
    monitor: ClassVar[str]  # metric name (without the split prefix) that picks the best checkpoint
    mode: ClassVar[str] = "max"
    test_beam_size: int | None = None  # seq2seq: the test split is also decoded with this beam width

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.decode: Decode | None = None

    @classmethod
    def build(cls, spec: TaskSpec, options: dict[str, Any] | None = None) -> TaskObjective:
        """The objective with its options, or a ConfigError naming the options it accepts."""
        options = dict(options or {})
        accepted = [
            name for name in inspect.signature(cls.__init__).parameters if name not in ("self", "spec")
        ]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ConfigError(
                f"model.objective: unknown option(s) {unknown} for {cls.kind.value}; valid: {accepted or 'none'}"
            )
        return cls(spec, **options)

    def loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        """The family's own loss when it gives one (CRF, Hugging Face heads), else the task's."""
        if "loss" in outputs:
            return outputs["loss"]
        return self.task_loss(outputs, batch)

    def task_loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def training_logs(self, outputs: Outputs, batch: Batch) -> dict[str, torch.Tensor]:
        """Scalars of a training batch logged beside `train/loss` (DPO's reward accuracy); default none."""
        return {}

    def metrics(self) -> MetricCollection:
        """Fresh metric objects; the module clones them per split and computes them per epoch."""
        raise NotImplementedError

    def test_metrics(self) -> MetricCollection:
        """The test split's metrics: `metrics()` unless the test reports more (seq2seq's beam BLEU)."""
        return self.metrics()

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        raise NotImplementedError

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        """One JSON-serialisable dict per example (per window for strided inputs)."""
        raise NotImplementedError

    def finalize_predictions(self, predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Merge per-batch predictions into per-example ones (e.g. the best of a QA example's windows)."""
        return predictions

    def require_decode(self) -> Decode:
        if self.decode is None:
            raise ConfigError(
                f"the {self.kind.value} objective needs text: call module.use_tokenizer(tokenizer) first"
            )
        return self.decode
