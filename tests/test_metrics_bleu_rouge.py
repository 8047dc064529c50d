"""Corpus BLEU/chrF against sacreBLEU itself, ROUGE against rouge-score, perplexity and bpc by hand."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import sacrebleu
import torch
import torch.nn.functional as F
from rouge_score.rouge_scorer import RougeScorer

from nlpzoo.metrics.bleu import SacreBleuScore, TokenizedBleuScore, lowercased_tokens
from nlpzoo.metrics.language_modeling import LanguageModelScore, token_statistics
from nlpzoo.metrics.rouge import ROUGE_TYPES, RougeScore

HYPOTHESES = [
    "The cat sat on the mat.",
    "A man is playing a guitar on stage, isn't he?",
    "Two dogs run through the snow.",
    "It's 5 o'clock.",
    "completely unrelated words",
]
REFERENCES = [
    "The cat is sitting on the mat.",
    "A man plays the guitar on a stage.",
    "Two dogs are running through the snow.",
    "It is five o'clock.",
    "A woman reads a book.",
]


def fed_in_two_batches(metric, hypotheses: list[str], references: list[str]):
    metric.update(hypotheses[:2], references[:2])
    metric.update(hypotheses[2:], references[2:])
    return metric.compute()


def test_corpus_bleu_is_sacrebleus_default() -> None:
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score
    assert float(fed_in_two_batches(SacreBleuScore("bleu"), HYPOTHESES, REFERENCES)) == pytest.approx(
        expected
    )
    assert 5 < expected < 80


def torchtext_bleu(candidates: list[list[str]], references: list[list[str]]) -> float:
    """torchtext.data.metrics.bleu_score (max_n 4, uniform weights, one reference), written out, x100."""
    clipped, total = [0] * 4, [0] * 4
    for candidate, reference in zip(candidates, references, strict=True):
        for n in range(1, 5):
            grams = Counter(tuple(candidate[i : i + n]) for i in range(len(candidate) - n + 1))
            reference_grams = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
            clipped[n - 1] += sum(min(count, reference_grams[gram]) for gram, count in grams.items())
            total[n - 1] += max(len(candidate) - n + 1, 0)
    log_precision = sum(math.log(c / t) for c, t in zip(clipped, total, strict=True)) / 4
    candidate_length, reference_length = sum(map(len, candidates)), sum(map(len, references))
    brevity = min(1.0, math.exp(1 - reference_length / candidate_length))
    return 100 * brevity * math.exp(log_precision)


def test_tokenized_bleu_is_torchtexts_bleu_on_lowercased_tokens() -> None:
    hypotheses, references = (
        HYPOTHESES[:4],
        REFERENCES[:4],
    )  # the fifth has no 4-gram match: torchtext gives 0
    assert lowercased_tokens("It's 5 o'clock.") == "it ' s 5 o ' clock ."
    expected = torchtext_bleu(
        [lowercased_tokens(h).split() for h in hypotheses], [lowercased_tokens(r).split() for r in references]
    )
    score = float(fed_in_two_batches(TokenizedBleuScore(), hypotheses, references))
    assert score == pytest.approx(expected)
    assert score != pytest.approx(float(sacrebleu.corpus_bleu(hypotheses, [references]).score))


def test_bleu_with_no_four_gram_match_uses_sacrebleus_smoothing() -> None:
    hypotheses, references = ["the cat sat down", "a dog"], ["the cat sat on it", "the dog"]
    expected = sacrebleu.corpus_bleu(hypotheses, [references]).score  # exp smoothing: not 0
    assert expected > 0
    assert float(fed_in_two_batches(SacreBleuScore("bleu"), hypotheses, references)) == pytest.approx(
        expected
    )


def test_chrf_is_sacrebleus() -> None:
    expected = sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES]).score
    assert float(fed_in_two_batches(SacreBleuScore("chrf"), HYPOTHESES, REFERENCES)) == pytest.approx(
        expected
    )


def test_rouge_is_the_mean_of_rouge_score_f_measures() -> None:
    scorer = RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    references = [*REFERENCES[:-1], "A woman reads a book.\nShe smiles."]  # Lsum: sentences at newlines
    hypotheses = [*HYPOTHESES[:-1], "A woman smiles.\nShe reads."]
    scores = [scorer.score(r, h) for h, r in zip(hypotheses, references, strict=True)]
    result = fed_in_two_batches(RougeScore(), hypotheses, references)
    for name in ROUGE_TYPES:
        expected = sum(s[name].fmeasure for s in scores) / len(scores)
        assert float(result[name]) == pytest.approx(expected), name
    assert float(result["rougeLsum"]) != pytest.approx(float(result["rougeL"]))


def test_perplexity_and_bits_per_character_over_all_tokens() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 11, generator=generator)
    labels = torch.randint(0, 11, (3, 5), generator=generator)
    labels[2, 2:] = -100  # a short sequence: perplexity weights tokens, not batches
    metric = LanguageModelScore(char_level=True)
    metric.update(*token_statistics(logits[:2], labels[:2]))
    metric.update(*token_statistics(logits[2:], labels[2:]))
    result = metric.compute()
    mean_nll = F.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1), ignore_index=-100)
    assert float(result["ppl"]) == pytest.approx(math.exp(float(mean_nll)), rel=1e-5)
    assert float(result["bpc"]) == pytest.approx(float(mean_nll) / math.log(2), rel=1e-5)
    scored = labels != -100
    accuracy = ((logits.argmax(-1) == labels) & scored).sum() / scored.sum()
    assert float(result["accuracy"]) == pytest.approx(float(accuracy))
