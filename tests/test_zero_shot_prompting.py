"""Zero-shot classification by prompting a decoder: each label's words scored as the continuation of a
prompt around the text, through the text classification task (eval.py model=NAME data=NAME)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from nlpzoo.errors import ConfigError
from nlpzoo.evaluation import run_evaluation
from nlpzoo.models.prompting import LabelScorer, continuation_log_likelihood
from tests.conftest import SHARED_DATA, compose_config
from tests.test_llama_family import tiny_llama  # noqa: F401  (the fixture)

PROMPT = "the review {text} is"
SST2 = [
    "data=sst2",
    f"data.path={SHARED_DATA / 'sst2'}",
    "data.max_train_samples=8",
    "data.max_val_samples=8",
    "data.max_test_samples=12",
    "data.batch_size=4",
    "trainer.enable_progress_bar=false",
]


def test_left_padded_scores_are_each_continuations_own_log_likelihood(tiny_llama: Path) -> None:  # noqa: F811
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    rows, endings = [[5, 6, 7, 8, 9], [10, 11, 12], [13, 14, 15, 16]], [1, 2, 3]
    with torch.no_grad():
        scores = continuation_log_likelihood(model, rows, endings, pad_id=0, score="sum")
        for row, ending, got in zip(rows, endings, scores.tolist(), strict=True):
            log_probs = model(torch.tensor([row])).logits[0, :-1].log_softmax(-1)  # alone, unpadded
            expected = sum(log_probs[t - 1, row[t]].item() for t in range(len(row) - ending, len(row)))
            assert got == pytest.approx(expected, abs=1e-4)
        means = continuation_log_likelihood(model, rows, endings, pad_id=0, score="mean")
    assert means.tolist() == pytest.approx((scores / torch.tensor(endings)).tolist(), abs=1e-5)


def test_label_scorer_fills_the_prompt_with_the_text_and_scores_each_label(tiny_llama: Path) -> None:  # noqa: F811
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    scorer = LabelScorer(PROMPT, ["good", "bad"], score="sum")
    assert scorer.words == [" good", " bad"]  # the label follows the prompt as the next word
    encoded = tokenizer(["my good lord", "the lord"], padding=True, return_tensors="pt")
    with torch.no_grad():
        scores = scorer(model, tokenizer, encoded["input_ids"], encoded["attention_mask"])  # (2, 2)
        for i, text in enumerate(["my good lord", "the lord"]):
            for c, word in enumerate([" good", " bad"]):
                context = tokenizer(PROMPT.replace("{text}", text), add_special_tokens=False)["input_ids"]
                ending = tokenizer(word, add_special_tokens=False)["input_ids"]
                row = torch.tensor([context + ending])
                log_probs = model(row).logits[0, :-1].log_softmax(-1)
                expected = sum(log_probs[len(context) + k - 1, t].item() for k, t in enumerate(ending))
                assert scores[i, c].item() == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ConfigError, match=r"needs a '\{text\}'"):
        LabelScorer("no slot", ["good", "bad"])
    with pytest.raises(ConfigError, match="has 1 entries for the data's 2 labels"):
        LabelScorer(PROMPT, ["good", "bad"], label_words=["yes"])


def test_eval_py_classifies_sst2_zero_shot_with_a_prompted_decoder(tiny_llama: Path, tmp_path: Path) -> None:  # noqa: F811
    overrides = [
        "model=llama",
        f"model.pretrained={tiny_llama}",
        "model.chat=true",
        f"model.zero_shot_prompt='{PROMPT}'",
        "model.label_words=[bad,good]",
        *SST2,
    ]
    summary = run_evaluation(compose_config(overrides, tmp_path, config_name="eval"))
    assert summary["checkpoint"] is None and summary["examples"] == 12
    assert 0.0 <= summary["metrics"]["test/acc"] <= 1.0 and "test/loss" in summary["metrics"]


def test_zero_shot_prompt_needs_text_classification() -> None:
    from nlpzoo.models import PretrainedDecoder
    from nlpzoo.tasks import TaskKind
    from tests.tiny_transformers import spec, tiny

    with pytest.raises(ConfigError, match="needs text classification data"):
        PretrainedDecoder(spec(TaskKind.LANGUAGE_MODELING), zero_shot_prompt=PROMPT, **tiny("llama"))
