"""Word embeddings: the family's own training loss, and evaluation of its vectors on word-similarity
(Spearman) and analogy (3CosAdd accuracy) benchmarks, computed the way gensim's KeyedVectors does."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.regression import SpearmanCorrCoef

from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective
from nlpzoo.tasks.spec import TaskKind

ANALOGY_METRIC = "analogy_accuracy"
ANALOGY_CHUNK = 2048  # questions scored at once: 2048 x 30k similarities stay under 250 MB


def similarity_metric(benchmark: str) -> str:
    return f"{benchmark}_spearman"


def analogy_predictions(vectors: torch.Tensor, questions: torch.Tensor, restrict_vocab: int) -> torch.Tensor:
    """3CosAdd: for "a is to b as c is to ?", the word of the `restrict_vocab` most frequent whose
    unit vector is closest to unit(b) - unit(a) + unit(c), excluding a, b, c (gensim's rule).

    vectors (V, D), questions (Q, 4) ids -> (Q,) predicted ids; scored `ANALOGY_CHUNK` questions at a time.
    """
    unit = F.normalize(vectors[:restrict_vocab].float(), dim=-1)  # (R, D)
    predictions = []
    for chunk in questions.split(ANALOGY_CHUNK):
        a, b, c = unit[chunk[:, 0]], unit[chunk[:, 1]], unit[chunk[:, 2]]
        query = F.normalize(b - a + c, dim=-1)  # (chunk, D)
        scores = query @ unit.T  # (chunk, R)
        scores.scatter_(1, chunk[:, :3], float("-inf"))
        predictions.append(scores.argmax(-1))
    return torch.cat(predictions) if predictions else questions.new_zeros(0)


def pair_similarities(vectors: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each (P, 2) id pair -> (P,)."""
    return F.cosine_similarity(vectors[pairs[:, 0]].float(), vectors[pairs[:, 1]].float(), dim=-1)


def nearest_neighbours(vectors: torch.Tensor, word_id: int, k: int) -> list[tuple[int, float]]:
    """The k ids most cosine-similar to `word_id` (itself excluded), with their similarities."""
    unit = F.normalize(vectors.float(), dim=-1)
    scores = unit @ unit[word_id]
    scores[word_id] = float("-inf")
    top = scores.topk(min(k, len(scores) - 1))
    return list(zip(top.indices.tolist(), top.values.tolist(), strict=True))


class WordEmbeddingObjective(TaskObjective):
    """Training: the family's `loss` (negative sampling, hierarchical softmax, GloVe's weighted least
    squares). Evaluation batches carry benchmark ids; the family answers with `word_vectors` (V, D)."""

    kind = TaskKind.WORD_EMBEDDING
    monitor = similarity_metric("wordsim353")
    mode = "max"

    def loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        return outputs["loss"]

    def metrics(self) -> MetricCollection:
        metrics: dict[str, Any] = {
            similarity_metric(name): SpearmanCorrCoef() for name in self.spec.similarity_benchmarks
        }
        if self.spec.analogies:
            metrics[ANALOGY_METRIC] = MeanMetric()
        return MetricCollection(metrics)

    def metric_names(self, batch: Batch) -> list[str]:
        """The metrics this evaluation batch updates (one benchmark per batch)."""
        if "pair_ids" in batch:
            return [similarity_metric(self.spec.similarity_benchmarks[int(batch["benchmark_index"])])]
        return [ANALOGY_METRIC] if "analogy_ids" in batch else []

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        vectors = outputs["word_vectors"]  # (V, D)
        for name in self.metric_names(batch):
            metric = metrics[name]  # a prefixed collection (val/, test/) also answers to the bare name
            if name == ANALOGY_METRIC:
                questions = batch["analogy_ids"]
                predicted = analogy_predictions(vectors, questions, self.spec.analogy_restrict_vocab)
                metric.update((predicted == questions[:, 3]).float())
            else:
                metric.update(pair_similarities(vectors, batch["pair_ids"]), batch["pair_scores"])

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        words = self.spec.words
        if "pair_ids" in batch:
            similarities = pair_similarities(outputs["word_vectors"], batch["pair_ids"])
            return [
                {"word_a": words[a], "word_b": words[b], "similarity": float(s), "gold": float(g)}
                for (a, b), s, g in zip(
                    batch["pair_ids"].tolist(),
                    similarities.tolist(),
                    batch["pair_scores"].tolist(),
                    strict=True,
                )
            ]
        questions = batch["analogy_ids"]
        predicted = analogy_predictions(outputs["word_vectors"], questions, self.spec.analogy_restrict_vocab)
        return [
            {"question": [words[i] for i in q[:3]], "answer": words[q[3]], "predicted": words[p]}
            for q, p in zip(questions.tolist(), predicted.tolist(), strict=True)
        ]
