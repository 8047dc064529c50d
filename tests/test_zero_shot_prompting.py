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


# A tiny AG News-style topic set written for this test (no AG News copy ships offline): the labels are
# given by their names only, never trained on.
TOPICS = ["World", "Sports", "Business", "Technology"]
HEADLINES = [
    (0, "Peace talks between the two governments collapse as troops gather at the border"),
    (0, "The United Nations sends aid to refugees fleeing the civil war"),
    (0, "Prime minister resigns after the election defeat, parliament to choose a successor"),
    (0, "Earthquake kills hundreds in the capital as rescuers search the rubble"),
    (0, "Foreign ministers meet in Geneva to discuss the nuclear treaty"),
    (1, "The striker scores twice as the home team wins the cup final"),
    (1, "Tennis champion knocked out in the first round at Wimbledon"),
    (1, "The coach is fired after the team loses its fifth straight game"),
    (1, "Olympic sprinter breaks the world record in the 100 metres"),
    (1, "Quarterback throws three touchdowns in the season opener"),
    (2, "Oil prices climb as shares fall on Wall Street"),
    (2, "The bank raises interest rates to fight inflation"),
    (2, "Carmaker reports record quarterly profit and lifts its sales forecast"),
    (2, "Retailer to cut 2,000 jobs after a drop in holiday sales"),
    (2, "The airline agrees to a merger worth four billion dollars"),
    (3, "New smartphone chip doubles battery life, the company says"),
    (3, "Software update fixes a security flaw in the web browser"),
    (3, "Scientists build a faster quantum computer processor"),
    (3, "The search engine launches a new email service for internet users"),
    (3, "Hackers steal passwords from millions of online accounts"),
]


@pytest.mark.slow
def test_smollm2_names_the_topic_of_news_headlines_zero_shot(tmp_path: Path) -> None:
    rows = "label\tsentence\n" + "".join(f"{label}\t{text}\n" for label, text in HEADLINES)
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.tsv").write_text(rows)
    overrides = [
        "model=smollm2",
        "model.chat=false",  # this 135 M instruct model ranks labels better as plain continuations
        "model.zero_shot_prompt='Headline: {text} Topic:'",
        "data=sst2",
        f"data.path={tmp_path}",
        f"data.label_names=[{','.join(TOPICS)}]",
        "trainer.enable_progress_bar=false",
    ]
    summary = run_evaluation(compose_config(overrides, tmp_path / "run", config_name="eval"))
    assert summary["examples"] == len(HEADLINES)
    assert summary["metrics"]["test/acc"] >= 0.5  # chance: 0.25; measured: 0.80
