"""Each task objective on hand-built outputs and batches: loss, metrics against the references, predictions."""

from __future__ import annotations

import math

import pytest
import sacrebleu
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr, spearmanr
from seqeval.metrics import f1_score
from seqeval.scheme import IOBES
from sklearn.metrics import confusion_matrix
from sklearn.metrics import f1_score as sklearn_f1

from nlpzoo.errors import ConfigError, DataError
from nlpzoo.models.base import BatchDecode
from nlpzoo.tasks import OBJECTIVES, TaskKind, TaskSpec, build_objective
from nlpzoo.tokenizers import WordTokenizer


def spec(kind: TaskKind, **fields) -> TaskSpec:
    return TaskSpec(kind=kind, vocab_size=fields.pop("vocab_size", 50), **fields)


def computed(objective, outputs_and_batches) -> dict[str, float]:
    """Metrics as the module computes them: cloned with the split prefix, updated per batch, computed once."""
    metrics = objective.metrics().clone(prefix="val/")
    for outputs, batch in outputs_and_batches:
        objective.update_metrics(metrics, outputs, batch)
    return {name: float(value) for name, value in metrics.compute().items() if value.numel() == 1}


def test_every_task_kind_has_an_objective() -> None:
    assert set(OBJECTIVES) == set(TaskKind)


def test_unknown_objective_options_name_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"label_smoothing"):
        build_objective(spec(TaskKind.SEQ2SEQ), {"label_smoothin": 0.1})


# --- classification and NLI ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", [TaskKind.TEXT_CLASSIFICATION, TaskKind.NLI])
def test_classification_reports_accuracy_f1_and_a_confusion_matrix(kind: TaskKind) -> None:
    objective = build_objective(spec(kind, label_names=["entailment", "neutral", "contradiction"]))
    generator = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(40, 3, generator=generator), torch.randint(0, 3, (40,), generator=generator)
    batches = [
        ({"logits": logits[:25]}, {"labels": labels[:25]}),
        ({"logits": logits[25:]}, {"labels": labels[25:]}),
    ]
    metrics = objective.metrics().clone(prefix="val/")
    for outputs, batch in batches:
        objective.update_metrics(metrics, outputs, batch)
    result = metrics.compute()
    predicted = logits.argmax(-1)
    assert float(result["val/acc"]) == pytest.approx(float((predicted == labels).float().mean()))
    assert float(result["val/f1_macro"]) == pytest.approx(sklearn_f1(labels, predicted, average="macro"))
    assert float(result["val/f1_micro"]) == pytest.approx(sklearn_f1(labels, predicted, average="micro"))
    assert result["val/confusion_matrix"].tolist() == confusion_matrix(labels, predicted).tolist()
    assert float(objective.loss({"logits": logits}, {"labels": labels})) == pytest.approx(
        float(F.cross_entropy(logits, labels))
    )
    first = objective.predict({"logits": logits[:1]}, {})[0]
    assert first["label"] == objective.spec.label_names[int(predicted[0])]


# --- token classification ------------------------------------------------------------------------
TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def test_token_classification_loss_ignores_unlabelled_positions() -> None:
    objective = build_objective(spec(TaskKind.TOKEN_CLASSIFICATION, label_names=TAGS))
    logits = torch.randn(2, 6, len(TAGS))
    labels = torch.tensor([[-100, 1, 3, 0, -100, -100], [-100, 4, -100, 8, 0, -100]])
    keep = labels != -100
    expected = F.cross_entropy(logits[keep], labels[keep])
    assert float(objective.loss({"logits": logits}, {"labels": labels})) == pytest.approx(float(expected))
    crf_loss = torch.tensor(3.5)
    assert (
        objective.loss({"loss": crf_loss, "predictions": labels.clamp(min=0)}, {"labels": labels}) is crf_loss
    )


def test_token_classification_span_f1_matches_seqeval_with_crf_predictions() -> None:
    objective = build_objective(spec(TaskKind.TOKEN_CLASSIFICATION, label_names=TAGS, tag_scheme="IOBES"))
    index = {t: i for i, t in enumerate(TAGS)}
    gold = [["B-PER", "E-PER", "O", "S-LOC"], ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]]
    predicted = [["B-PER", "E-PER", "O", "O"], ["S-PER", "O", "B-LOC", "I-LOC", "I-LOC"]]
    labels = torch.full((2, 7), -100)
    predictions = torch.zeros(2, 7, dtype=torch.long)
    for row, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        labels[row, 1 : len(g) + 1] = torch.tensor([index[t] for t in g])
        predictions[row, 1 : len(p) + 1] = torch.tensor([index[t] for t in p])
    result = computed(
        objective, [({"loss": torch.tensor(1.0), "predictions": predictions}, {"labels": labels})]
    )
    assert result["val/f1"] == pytest.approx(f1_score(gold, predicted, mode="strict", scheme=IOBES))
    assert result["val/f1_PER"] == pytest.approx(1.0)
    assert result["val/recall_LOC"] == pytest.approx(0.0)
    entities = objective.predict(
        {"predictions": predictions}, {"labels": labels, "input_ids": labels.clamp(min=0)}
    )
    assert entities[1]["entities"] == [{"type": "PER", "start": 0, "end": 1}]
    assert entities[0]["tags"] == predicted[0]


# --- extractive QA -------------------------------------------------------------------------------
CONTEXT = "Super Bowl 50 was played at Levi's Stadium in Santa Clara, California."


def qa_window(answer_tokens: tuple[int, int], strength: float) -> tuple[dict, dict]:
    """One window: [CLS] q q [SEP] then context words with their character offsets."""
    words = [(m.start(), m.end()) for m in __import__("re").finditer(r"\S+", CONTEXT)]
    offsets = [(-1, -1)] * 4 + list(words) + [(-1, -1)]  # question and specials outside the context
    length = len(offsets)
    start_logits, end_logits = torch.zeros(1, length), torch.zeros(1, length)
    start_logits[0, answer_tokens[0]] = end_logits[0, answer_tokens[1]] = strength
    start_logits[0, 0] = end_logits[0, 0] = 100.0  # the [CLS] token is not in the context: never chosen
    batch = {
        "input_ids": torch.ones(1, length, dtype=torch.long),
        "attention_mask": torch.ones(1, length, dtype=torch.long),
        "offset_mapping": torch.tensor([offsets]),
        "start_positions": torch.tensor([answer_tokens[0]]),
        "end_positions": torch.tensor([answer_tokens[1]]),
        "example_id": ["56be4db0acb8001400a502ec"],
        "context": [CONTEXT],
        "answers": [{"text": ["Levi's Stadium", "Levi's Stadium in Santa Clara"], "answer_start": [28, 28]}],
    }
    return {"start_logits": start_logits, "end_logits": end_logits}, batch


def test_qa_scores_the_best_window_of_each_example() -> None:
    objective = build_objective(spec(TaskKind.EXTRACTIVE_QA), {"max_answer_length": 5})
    right = qa_window((10, 11), strength=8.0)  # "Levi's Stadium"
    wrong = qa_window((13, 14), strength=3.0)  # "Santa Clara," from a weaker window of the same example
    result = computed(objective, [wrong, right])
    assert result == {"val/exact_match": pytest.approx(100.0), "val/f1": pytest.approx(100.0)}
    predictions = objective.predict(*wrong) + objective.predict(*right)
    final = objective.finalize_predictions(predictions)
    assert [p["answer"] for p in final] == ["Levi's Stadium"]
    assert CONTEXT[final[0]["start_char"] : final[0]["end_char"]] == "Levi's Stadium"


def test_qa_respects_the_maximum_answer_length_and_hugging_face_offsets() -> None:
    objective = build_objective(spec(TaskKind.EXTRACTIVE_QA), {"max_answer_length": 2})
    outputs, batch = qa_window((10, 14), strength=8.0)  # 5 tokens: too long, a shorter span wins
    batch["offset_mapping"] = [[None if s < 0 else (s, e) for s, e in batch["offset_mapping"][0].tolist()]]
    answer = objective.predict(outputs, batch)[0]
    assert len(answer["answer"].split()) <= 2
    loss = objective.loss(outputs, batch)
    expected = (
        F.cross_entropy(outputs["start_logits"], batch["start_positions"])
        + F.cross_entropy(outputs["end_logits"], batch["end_positions"])
    ) / 2
    assert float(loss) == pytest.approx(float(expected))


def test_qa_evaluation_without_the_context_fails_clearly() -> None:
    objective = build_objective(spec(TaskKind.EXTRACTIVE_QA))
    outputs, batch = qa_window((10, 11), strength=8.0)
    del batch["context"]
    with pytest.raises(DataError, match="'context'"):
        objective.update_metrics(objective.metrics(), outputs, batch)


# --- seq2seq -------------------------------------------------------------------------------------
HYPOTHESES = ["a man plays the guitar", "two dogs run in the snow", "the cat sat"]
REFERENCES = ["a man is playing a guitar", "two dogs are running in the snow", "the cat sat on the mat"]


@pytest.fixture(scope="module")
def word_tokenizer():
    return WordTokenizer().build(HYPOTHESES + REFERENCES)


def seq2seq_batch(tokenizer, texts: list[str], references: list[str]) -> tuple[dict, dict]:
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    # As a greedy decoder returns them: start token, words, end token, then anything (here: junk words).
    generated = [[bos, *ids, eos, ids[0], ids[0]] for ids in encoded]
    width = max(map(len, generated))
    generated_ids = torch.tensor([g + [pad] * (width - len(g)) for g in generated])
    targets = [tokenizer(t, add_special_tokens=False)["input_ids"] + [eos] for t in references]
    width = max(map(len, targets))
    labels = torch.tensor([t + [-100] * (width - len(t)) for t in targets])
    logits = torch.randn(len(texts), width, len(tokenizer))
    return {"logits": logits, "generated_ids": generated_ids}, {"labels": labels}


def test_seq2seq_bleu_and_chrf_of_generations_match_sacrebleu(word_tokenizer) -> None:
    objective = build_objective(
        spec(
            TaskKind.SEQ2SEQ,
            eos_token_id=word_tokenizer.eos_token_id,
            pad_token_id=word_tokenizer.pad_token_id,
        )
    )
    objective.decode = BatchDecode(word_tokenizer)
    batches = [
        seq2seq_batch(word_tokenizer, HYPOTHESES[:2], REFERENCES[:2]),
        seq2seq_batch(word_tokenizer, HYPOTHESES[2:], REFERENCES[2:]),
    ]
    result = computed(objective, batches)  # references decoded from the labels
    assert result["val/bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score)
    assert result["val/chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES]).score)
    assert objective.predict(*batches[1]) == [{"generated": HYPOTHESES[2]}]


def test_seq2seq_label_smoothing_and_summarization_metrics(word_tokenizer) -> None:
    summarization = spec(
        TaskKind.SEQ2SEQ, eos_token_id=word_tokenizer.eos_token_id, seq2seq_task="summarization"
    )
    objective = build_objective(summarization, {"label_smoothing": 0.1})
    objective.decode = BatchDecode(word_tokenizer)
    outputs, batch = seq2seq_batch(word_tokenizer, HYPOTHESES, REFERENCES)
    expected = F.cross_entropy(
        outputs["logits"].flatten(0, 1), batch["labels"].flatten(), ignore_index=-100, label_smoothing=0.1
    )
    assert float(objective.loss(outputs, batch)) == pytest.approx(float(expected))
    batch["target_text"] = [
        "A man is playing a guitar.",
        *REFERENCES[1:],
    ]  # references as written, when given
    result = computed(objective, [(outputs, batch)])
    assert {
        "val/bleu",
        "val/chrf",
        "val/rouge1",
        "val/rouge2",
        "val/rougeL",
        "val/rougeLsum",
    } <= result.keys()
    assert result["val/bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(HYPOTHESES, [batch["target_text"]]).score
    )


def test_seq2seq_evaluation_needs_generations_and_a_tokenizer(word_tokenizer) -> None:
    objective = build_objective(spec(TaskKind.SEQ2SEQ))
    outputs, batch = seq2seq_batch(word_tokenizer, HYPOTHESES, REFERENCES)
    with pytest.raises(ConfigError, match="use_tokenizer"):
        objective.update_metrics(objective.metrics(), outputs, batch)
    del outputs["generated_ids"]
    with pytest.raises(ConfigError, match="generated_ids"):
        objective.update_metrics(objective.metrics(), outputs, batch)


# --- language modeling ---------------------------------------------------------------------------
def test_causal_lm_shifts_labels_and_reports_perplexity_and_bpc() -> None:
    objective = build_objective(spec(TaskKind.LANGUAGE_MODELING, vocab_size=7, char_level=True))
    input_ids = torch.tensor([[1, 2, 3, 4, 5], [2, 3, 4, 0, 0]])
    labels = input_ids.masked_fill(input_ids == 0, -100)
    # Logits that put 2 nats more on the *next* token than on the others.
    logits = torch.zeros(2, 5, 7)
    logits[:, :-1].scatter_(-1, input_ids[:, 1:, None], 2.0)
    outputs, batch = {"logits": logits}, {"input_ids": input_ids, "labels": labels}
    next_token_nll = -math.log(math.exp(2) / (math.exp(2) + 6))
    assert float(objective.loss(outputs, batch)) == pytest.approx(next_token_nll, rel=1e-5)
    result = computed(objective, [(outputs, batch)])
    assert result["val/ppl"] == pytest.approx(math.exp(next_token_nll), rel=1e-5)
    assert result["val/bpc"] == pytest.approx(next_token_nll / math.log(2), rel=1e-5)
    assert result["val/accuracy"] == pytest.approx(1.0)
    assert [p["tokens"] for p in objective.predict(outputs, batch)] == [4, 2]


def test_masked_lm_scores_only_masked_positions_without_shifting() -> None:
    objective = build_objective(spec(TaskKind.MASKED_LANGUAGE_MODELING, vocab_size=7, mask_token_id=6))
    input_ids = torch.tensor([[1, 6, 3, 6]])
    labels = torch.tensor([[-100, 2, -100, 4]])
    logits = torch.zeros(1, 4, 7)
    logits[0, 1, 2] = logits[0, 3, 5] = 3.0  # right at position 1, wrong at position 3
    result = computed(objective, [({"logits": logits}, {"input_ids": input_ids, "labels": labels})])
    assert result["val/accuracy"] == pytest.approx(0.5)
    assert "val/bpc" not in result
    assert objective.predict({"logits": logits}, {"input_ids": input_ids}) == [
        {"positions": [1, 3], "token_ids": [2, 5]}
    ]


# --- sentence similarity -------------------------------------------------------------------------
def test_similarity_correlations_match_scipy() -> None:
    objective = build_objective(spec(TaskKind.SENTENCE_SIMILARITY))
    generator = torch.Generator().manual_seed(0)
    labels = torch.rand(30, generator=generator) * 5
    scores = labels + torch.randn(30, generator=generator)
    batches = [
        ({"scores": scores[:16]}, {"labels": labels[:16]}),
        ({"scores": scores[16:]}, {"labels": labels[16:]}),
    ]
    result = computed(objective, batches)
    assert result["val/pearson"] == pytest.approx(pearsonr(scores, labels).statistic, abs=1e-5)
    assert result["val/spearman"] == pytest.approx(spearmanr(scores, labels).statistic, abs=1e-5)
    assert float(objective.loss(*batches[0])) == pytest.approx(float(F.mse_loss(scores[:16], labels[:16])))


def test_bi_encoder_cosine_loss_rescales_labels() -> None:
    with pytest.raises(ConfigError, match="score_range"):
        build_objective(spec(TaskKind.SENTENCE_SIMILARITY), {"loss": "cosine"})
    objective = build_objective(spec(TaskKind.SENTENCE_SIMILARITY, score_range=[0, 5]), {"loss": "cosine"})
    a, b = torch.randn(4, 8), torch.randn(4, 8)
    labels = torch.tensor([0.0, 2.5, 5.0, 1.0])
    cosine = F.cosine_similarity(a, b)
    outputs = {"embeddings_a": a, "embeddings_b": b}
    assert float(objective.loss(outputs, {"labels": labels})) == pytest.approx(
        float(F.mse_loss(cosine, labels / 5))
    )
    assert objective.predict(outputs, {})[0]["score"] == pytest.approx(float(cosine[0]) * 5)
