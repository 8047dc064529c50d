"""SQuAD exact match / F1 against the official v1.1 evaluation logic, and best-span decoding."""

from __future__ import annotations

import re
import string
from collections import Counter

import pytest
import torch
from torchmetrics.functional.text import squad as torchmetrics_squad

from nlpzoo.metrics.squad import SquadScore, best_spans, exact_match, normalize_answer, token_f1


# --- the official SQuAD v1.1 evaluate script's functions, verbatim in logic (reference) ---------
def official_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def official_f1_score(prediction, ground_truth):
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def official_exact_match_score(prediction, ground_truth):
    return official_normalize_answer(prediction) == official_normalize_answer(ground_truth)


def official_max_over_ground_truths(metric_fn, prediction, ground_truths):
    return max(metric_fn(prediction, gt) for gt in ground_truths)


CASES = [
    ("Denver Broncos", ["Denver Broncos", "The Denver Broncos"]),
    ("the Broncos!", ["Denver Broncos"]),
    ("Santa Clara, California", ["Levi's Stadium", "Santa Clara, California"]),
    ("in 1879,  the year", ["1879"]),
    ("", ["Paris"]),
    ("a", ["the"]),  # both normalize to nothing: exact match, but F1 0 in v1.1
    ("Saint-Étienne's   club", ["saint étiennes club"]),
]


@pytest.mark.parametrize(("prediction", "golds"), CASES)
def test_exact_match_and_f1_follow_the_official_script(prediction: str, golds: list[str]) -> None:
    assert normalize_answer(prediction) == official_normalize_answer(prediction)
    assert exact_match(prediction, golds) == float(
        official_max_over_ground_truths(official_exact_match_score, prediction, golds)
    )
    assert token_f1(prediction, golds) == pytest.approx(
        official_max_over_ground_truths(official_f1_score, prediction, golds)
    )


def test_corpus_scores_match_torchmetrics_squad() -> None:
    # torchmetrics scores F1 1 when both answers normalize to nothing (SQuAD v2's rule); v1.1 says 0.
    cases = [(p, g) for p, g in CASES if (p, g) != ("a", ["the"])]
    metric = SquadScore()
    metric.update(
        keys=torch.arange(len(cases)),
        scores=torch.zeros(len(cases)),
        exact=torch.tensor([exact_match(p, g) for p, g in cases]),
        f1=torch.tensor([token_f1(p, g) for p, g in cases]),
    )
    preds = [{"prediction_text": p, "id": str(i)} for i, (p, _) in enumerate(cases)]
    target = [
        {"answers": {"text": g, "answer_start": [0] * len(g)}, "id": str(i)} for i, (_, g) in enumerate(cases)
    ]
    reference = torchmetrics_squad(preds, target)
    result = metric.compute()
    assert float(result["exact_match"]) == pytest.approx(float(reference["exact_match"]))
    assert float(result["f1"]) == pytest.approx(float(reference["f1"]))


def test_each_example_is_scored_by_its_best_window_across_batches() -> None:
    metric = SquadScore()
    # Example 7 has three windows in two batches: the best (score 5.0) is wrong; example 9 one right window.
    metric.update(
        torch.tensor([7, 9]), torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0])
    )
    metric.update(
        torch.tensor([7, 7]), torch.tensor([5.0, -2.0]), torch.tensor([0.0, 1.0]), torch.tensor([0.5, 1.0])
    )
    result = metric.compute()
    assert float(result["exact_match"]) == pytest.approx(50.0)
    assert float(result["f1"]) == pytest.approx(75.0)


def test_best_span_is_the_brute_force_best_within_the_length_limit() -> None:
    generator = torch.Generator().manual_seed(0)
    start, end = torch.randn(4, 20, generator=generator), torch.randn(4, 20, generator=generator)
    mask = torch.ones(4, 20, dtype=torch.bool)
    mask[:, :6] = False  # question and [CLS]
    mask[1, 15:] = False  # padding
    got_start, got_end, got_score = best_spans(start, end, mask, max_answer_length=4)
    for b in range(4):
        candidates = [
            (float(start[b, i] + end[b, j]), i, j)
            for i in range(20)
            for j in range(i, min(i + 4, 20))
            if mask[b, i] and mask[b, j]
        ]
        score, i, j = max(candidates)
        assert (int(got_start[b]), int(got_end[b])) == (i, j)
        assert float(got_score[b]) == pytest.approx(score)
