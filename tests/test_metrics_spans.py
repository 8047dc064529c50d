"""Span-level NER metrics against seqeval (strict mode for IOB2/IOBES, default mode for IOB1)."""

from __future__ import annotations

import random

import pytest
import torch
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, IOBES

from nlpzoo.errors import ConfigError
from nlpzoo.metrics.spans import SpanF1
from nlpzoo.tasks.tagging import infer_scheme, scheme_name, tags_to_spans

IOB2_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
IOBES_TAGS = ["O", *[f"{p}-{t}" for t in ("PER", "LOC", "ORG") for p in "BIES"]]


def seqeval_scores(gold: list[list[str]], predicted: list[list[str]], scheme: str) -> dict[str, float]:
    """Flat {"f1": ..., "f1_PER": ...} from seqeval's report (micro average and per type)."""
    options = {"mode": "strict", "scheme": {"IOB2": IOB2, "IOBES": IOBES}[scheme]} if scheme != "IOB1" else {}
    report = classification_report(gold, predicted, output_dict=True, zero_division=0, **options)
    flat = {
        name: report["micro avg"][f"{name}-score" if name == "f1" else name]
        for name in ("precision", "recall", "f1")
    }
    for entity_type, row in report.items():
        if "avg" not in entity_type:
            flat.update(
                {f"precision_{entity_type}": row["precision"], f"recall_{entity_type}": row["recall"]}
            )
            flat[f"f1_{entity_type}"] = row["f1-score"]
    return flat


def ours(
    gold: list[list[str]], predicted: list[list[str]], names: list[str], scheme: str
) -> dict[str, float]:
    """SpanF1 fed as a model would: tag ids padded with -100, in two batches."""
    index = {name: i for i, name in enumerate(names)}
    metric = SpanF1(names, scheme)
    for part in (slice(0, len(gold) // 2), slice(len(gold) // 2, None)):
        length = max(len(s) for s in gold[part])
        labels = torch.full((len(gold[part]), length + 2), -100)
        predictions = torch.zeros_like(labels)
        for row, (g, p) in enumerate(zip(gold[part], predicted[part], strict=True)):
            labels[row, 1 : len(g) + 1] = torch.tensor([index[t] for t in g])  # position 0: like [CLS]
            predictions[row, 1 : len(p) + 1] = torch.tensor([index[t] for t in p])
        metric.update(predictions, labels)
    return {name: float(value) for name, value in metric.compute().items()}


def random_sentences(names: list[str], count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(names) for _ in range(rng.randint(1, 12))] for _ in range(count)]


def test_iob2_spans_on_hand_checked_cases() -> None:
    assert tags_to_spans(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    assert tags_to_spans(["I-PER", "I-PER", "O"]) == []  # strict: no entity without B-
    assert tags_to_spans(["B-PER", "I-LOC", "I-LOC"]) == [("PER", 0, 1)]
    assert tags_to_spans(["B-PER", "B-PER"]) == [("PER", 0, 1), ("PER", 1, 2)]


def test_iobes_spans_on_hand_checked_cases() -> None:
    assert tags_to_spans(["S-PER", "B-LOC", "I-LOC", "E-LOC"], "IOBES") == [("PER", 0, 1), ("LOC", 1, 4)]
    assert tags_to_spans(["B-LOC", "I-LOC", "O"], "IOBES") == []  # never closed by E-
    assert tags_to_spans(["B-LOC", "E-PER"], "IOBES") == []
    assert infer_scheme(IOBES_TAGS) == "iobes" and infer_scheme(IOB2_TAGS) == "iob2"


def test_lenient_reading_starts_a_chunk_at_a_stray_tag() -> None:
    # The reading that converts tags between schemes: what strict scoring drops still forms a chunk.
    assert tags_to_spans(["I-PER", "I-PER", "O"], strict=False) == [("PER", 0, 2)]
    assert tags_to_spans(["B-LOC", "I-LOC", "O"], "iobes", strict=False) == [("LOC", 0, 2)]
    assert tags_to_spans(["B-PER", "E-PER"], "iob2", strict=False) == [("PER", 0, 2)]


def test_scheme_names_are_one_spelling_typed_in_any_case() -> None:
    assert [scheme_name(name) for name in ("IOB1", "iob2", "IoBeS")] == ["iob1", "iob2", "iobes"]
    assert SpanF1(IOB2_TAGS, "IOB2").scheme == SpanF1(IOB2_TAGS, "iob2").scheme == "iob2"
    with pytest.raises(ConfigError, match="tag scheme='bio' is not one of iob1, iob2, iobes"):
        scheme_name("bio")


def test_fixed_example_matches_seqeval_strict() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-MISC", "I-MISC", "O", "O", "B-PER"]]
    predicted = [["B-PER", "I-PER", "O", "I-LOC"], ["B-MISC", "I-MISC", "I-MISC", "O", "B-PER"]]
    expected = seqeval_scores(gold, predicted, "IOB2")
    assert ours(gold, predicted, IOB2_TAGS, "IOB2") == pytest.approx(expected)
    assert expected["f1"] == pytest.approx(
        2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4)
    )  # 2 right of 3 predicted, 4 gold


@pytest.mark.parametrize(
    ("scheme", "names"), [("IOB2", IOB2_TAGS), ("IOBES", IOBES_TAGS), ("IOB1", IOB2_TAGS)]
)
def test_random_tag_sequences_match_seqeval(scheme: str, names: list[str]) -> None:
    # Random tags are mostly ill-formed, which exercises every strict-mode rule.
    gold = random_sentences(names, 300, seed=1)
    rng = random.Random(2)
    predicted = [[rng.choice(names) if rng.random() < 0.3 else tag for tag in s] for s in gold]
    expected = seqeval_scores(gold, predicted, scheme)
    got = ours(gold, predicted, names, scheme)
    assert expected["f1"] > 0.1
    for name, value in expected.items():
        assert got[name] == pytest.approx(value), name


def test_a_tag_outside_the_scheme_is_refused() -> None:
    with pytest.raises(ConfigError, match="not valid in the IOB2 scheme"):
        tags_to_spans(["B-PER", "E-PER"], "IOB2")
