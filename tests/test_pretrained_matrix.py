"""Every pretrained family x task pair: one training step (loss, gradients) and one evaluation step
(metrics) on a contract-shaped batch with a tiny random model; unsupported pairs fail up front."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from nlpzoo.errors import UnsupportedTaskError
from nlpzoo.models import PretrainedDecoder, PretrainedEncoder, PretrainedEncoderDecoder
from nlpzoo.tasks import OBJECTIVES, TaskKind
from tests.tiny_transformers import random_ids, spec, tiny

B, T = 4, 10


class CharTokenizer:
    """Enough of a tokenizer for label verbalizers and prefixes: one id per character, then [EOS]."""

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        ids = [7 + ord(c) % 50 for c in text]
        return {"input_ids": [*ids, 3] if add_special_tokens else ids}

    def batch_decode(self, ids: list[list[int]], skip_special_tokens: bool = True) -> list[str]:
        return [" ".join(str(i) for i in row if i > 6) for row in ids]


def batch_for(kind: TaskKind, pair_encoding: str | None = None) -> dict[str, Any]:
    mask = torch.ones(B, T, dtype=torch.long)
    mask[0, T - 3 :] = 0
    batch: dict[str, Any] = {"input_ids": random_ids(B, T), "attention_mask": mask}
    if kind in (TaskKind.TEXT_CLASSIFICATION, TaskKind.NLI):
        batch["labels"] = torch.tensor([0, 1, 2, 1]) % (3 if kind == TaskKind.NLI else 2)
    elif kind == TaskKind.TOKEN_CLASSIFICATION:
        batch["labels"] = torch.randint(0, 5, (B, T)).masked_fill(mask == 0, -100)
    elif kind == TaskKind.EXTRACTIVE_QA:
        batch["start_positions"], batch["end_positions"] = (
            torch.tensor([2, 3, 4, 5]),
            torch.tensor([3, 3, 6, 5]),
        )
        # Tokens 2..T-1 cover the context two characters each; the rest is question and specials.
        offsets = [[(-1, -1)] * 2 + [(2 * i, 2 * i + 2) for i in range(T - 2)] for _ in range(B)]
        batch["offset_mapping"] = torch.tensor(offsets)
        batch["context"] = ["abcdefghijklmnop"] * B
        batch["answers"] = [["ab"], ["cd"], ["efgh"], ["ij"]]
        batch["example_id"] = list(range(B))
    elif kind == TaskKind.SEQ2SEQ:
        labels = random_ids(B, 6, seed=1)
        batch["decoder_input_ids"] = torch.cat([torch.full((B, 1), 2), labels[:, :-1]], dim=1)
        batch["labels"] = labels.masked_fill(torch.arange(6) >= 5, -100)
    elif kind == TaskKind.LANGUAGE_MODELING:
        batch["labels"] = batch["input_ids"].masked_fill(mask == 0, -100)
    elif kind == TaskKind.MASKED_LANGUAGE_MODELING:
        batch["labels"] = batch["input_ids"].masked_fill(torch.rand(B, T) > 0.3, -100)
        batch["input_ids"] = batch["input_ids"].masked_fill(batch["labels"] != -100, 4)
    elif kind == TaskKind.SENTENCE_SIMILARITY:
        batch["labels"] = torch.tensor([0.5, 4.0, 2.5, 1.0])
        if pair_encoding == "bi":
            batch["input_ids_b"], batch["attention_mask_b"] = (
                random_ids(B, 7, seed=2),
                torch.ones(B, 7, dtype=torch.long),
            )
    return batch


LABELS = {
    TaskKind.TEXT_CLASSIFICATION: ["negative", "positive"],
    TaskKind.NLI: ["entailment", "neutral", "contradiction"],
    TaskKind.TOKEN_CLASSIFICATION: ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
}
CASES = [
    (PretrainedEncoder, "bert", TaskKind.TEXT_CLASSIFICATION, {}),
    (PretrainedEncoder, "bert", TaskKind.TEXT_CLASSIFICATION, {"pooling": "mean"}),
    (PretrainedEncoder, "bert", TaskKind.NLI, {}),
    (PretrainedEncoder, "bert", TaskKind.TOKEN_CLASSIFICATION, {}),
    (PretrainedEncoder, "bert", TaskKind.EXTRACTIVE_QA, {}),
    (PretrainedEncoder, "bert", TaskKind.MASKED_LANGUAGE_MODELING, {}),
    (PretrainedEncoder, "bert", TaskKind.SENTENCE_SIMILARITY, {"pair_encoding": "cross"}),
    (PretrainedEncoder, "bert", TaskKind.SENTENCE_SIMILARITY, {"pair_encoding": "bi"}),
    (
        PretrainedEncoder,
        "bert",
        TaskKind.SENTENCE_SIMILARITY,
        {"pair_encoding": "bi", "similarity_loss": "contrastive"},
    ),
    (PretrainedDecoder, "gpt2", TaskKind.LANGUAGE_MODELING, {}),
    (PretrainedDecoder, "gpt2", TaskKind.TEXT_CLASSIFICATION, {}),
    (PretrainedDecoder, "gpt2", TaskKind.NLI, {}),
    *[(PretrainedEncoderDecoder, m, TaskKind.SEQ2SEQ, {}) for m in ("t5", "bart", "marian")],
    *[(PretrainedEncoderDecoder, m, TaskKind.TEXT_CLASSIFICATION, {}) for m in ("t5", "bart", "marian")],
    (PretrainedEncoderDecoder, "t5", TaskKind.NLI, {"task_prefix": "mnli: "}),
]


@pytest.mark.parametrize(
    ("family", "model_type", "kind", "options"), CASES, ids=lambda v: getattr(v, "value", None)
)
def test_each_supported_pair_trains_and_evaluates_one_step(family, model_type, kind, options) -> None:
    if kind not in OBJECTIVES:
        pytest.skip(f"no {kind.value} objective on this branch yet (nlpzoo.tasks, [2/8])")
    options = dict(options)
    pair_encoding = options.pop("pair_encoding", None)
    if family is not PretrainedEncoder:
        options["generation"] = {"max_new_tokens": 4}
    task = spec(kind, label_names=LABELS.get(kind, []), pair_encoding=pair_encoding, score_range=[0, 5])
    module = family(task, **tiny(model_type), **options)
    module.use_tokenizer(CharTokenizer())
    batch = batch_for(kind, pair_encoding)

    module.train()
    loss = module.objective.loss(module(batch), batch)
    loss.backward()
    assert math.isfinite(loss.item())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())

    module.eval()
    with torch.no_grad():
        outputs = module(batch)
        module.objective.update_metrics(module.val_metrics, outputs, batch)
    values = module.val_metrics.compute()
    assert values and all(torch.isfinite(v).all() for v in values.values())


@pytest.mark.parametrize(
    ("family", "kind"),
    [
        (PretrainedDecoder, TaskKind.EXTRACTIVE_QA),
        (PretrainedDecoder, TaskKind.TOKEN_CLASSIFICATION),
        (PretrainedEncoderDecoder, TaskKind.TOKEN_CLASSIFICATION),
        (PretrainedEncoder, TaskKind.LANGUAGE_MODELING),
        (PretrainedEncoder, TaskKind.WORD_EMBEDDING),
    ],
)
def test_unsupported_pairs_fail_before_training_naming_what_is_served(family, kind) -> None:
    with pytest.raises(UnsupportedTaskError, match="it serves: "):
        family.check_supported(kind)
