"""Drift monitoring: per-request statistics, a reference profile stored at export time, and PSI over a window.

Four statistics per text: input length (tokens), unknown-token rate, predicted label and
confidence (top softmax probability). The reference profile keeps, per statistic, the bins and
the share of reference texts in each (deciles for numbers, one bin per label); a live window is
binned the same way and compared with the population stability index,
PSI = sum_i (live_i - ref_i) * ln(live_i / ref_i). The usual reading: < 0.1 stable, > 0.2 shifted.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpzoo.errors import ConfigError

NUMERIC = ("input_length", "unknown_rate", "confidence")
CATEGORICAL = ("predicted_label",)
STATISTICS = (*NUMERIC, *CATEGORICAL)
SHARE_FLOOR = 1e-4  # an empty bin counts as this share, so PSI stays finite


def text_statistics(
    input_ids: Any, attention_mask: Any, predictions: Sequence[dict[str, Any]], unk_token_id: int | None
) -> dict[str, np.ndarray]:
    """Per-text statistics of one batch: the ids and mask the model read (batch, seq; numpy or CPU tensors)
    and the classifier's predictions of it (`score`, the top probability, and `label_id`)."""
    input_ids, attention_mask = np.asarray(input_ids), np.asarray(attention_mask)
    lengths = attention_mask.sum(-1)  # (batch,)
    unknown = ((input_ids == unk_token_id) & (attention_mask == 1)).sum(-1) if unk_token_id is not None else 0
    return {
        "input_length": lengths.astype(np.float64),
        "unknown_rate": np.asarray(unknown / np.maximum(lengths, 1), dtype=np.float64),
        "confidence": np.asarray([p["score"] for p in predictions], dtype=np.float64),
        "predicted_label": np.asarray([p["label_id"] for p in predictions], dtype=np.int64),
    }


@dataclass
class ReferenceProfile:
    """Bins and reference shares per statistic, plus summary numbers for people reading the JSON."""

    edges: dict[str, list[float]]  # numeric statistic -> inner bin edges (bins: <=e0, (e0,e1], ..., >e_last)
    shares: dict[str, list[float]]  # statistic -> share of reference texts per bin (or per label)
    num_labels: int
    examples: int
    summary: dict[str, dict[str, float]]

    @classmethod
    def from_statistics(
        cls, statistics: dict[str, np.ndarray], num_labels: int, bins: int = 10
    ) -> ReferenceProfile:
        edges, shares, summary = {}, {}, {}
        for name in NUMERIC:
            values = statistics[name]
            inner = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
            edges[name] = inner.tolist()
            shares[name] = bin_shares(values, inner).tolist()
            summary[name] = {
                "mean": float(values.mean()),
                "p50": float(np.median(values)),
                "p95": float(np.quantile(values, 0.95)),
            }
        labels = statistics["predicted_label"]
        shares["predicted_label"] = (np.bincount(labels, minlength=num_labels) / max(len(labels), 1)).tolist()
        return cls(edges, shares, num_labels, len(labels), summary)

    def psi(self, statistics: dict[str, np.ndarray]) -> dict[str, float]:
        """PSI of each statistic of a live sample against this reference."""
        scores = {}
        for name in NUMERIC:
            scores[name] = population_stability_index(
                np.asarray(self.shares[name]), bin_shares(statistics[name], np.asarray(self.edges[name]))
            )
        labels = statistics["predicted_label"]
        live = np.bincount(labels, minlength=self.num_labels)[: self.num_labels] / max(len(labels), 1)
        scores["predicted_label"] = population_stability_index(
            np.asarray(self.shares["predicted_label"]), live
        )
        return scores

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> ReferenceProfile:
        if not Path(path).is_file():
            raise ConfigError(
                f"drift reference profile not found: {path}; export.py writes it next to the model"
            )
        return cls(**json.loads(Path(path).read_text()))


def bin_shares(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Share of `values` in each bin: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    counts = np.bincount(np.digitize(values, inner_edges, right=True), minlength=len(inner_edges) + 1)
    return counts / max(len(values), 1)


def population_stability_index(reference: np.ndarray, live: np.ndarray) -> float:
    """PSI between two share vectors over the same bins (empty bins floored at SHARE_FLOOR)."""
    reference, live = np.maximum(reference, SHARE_FLOOR), np.maximum(live, SHARE_FLOOR)
    return float(np.sum((live - reference) * np.log(live / reference)))


class DriftMonitor:
    """The same statistics over a sliding window of live texts, scored against the reference."""

    def __init__(
        self, profile: ReferenceProfile, window: int, thresholds: dict[str, float], min_samples: int
    ) -> None:
        unknown = set(thresholds) - set(STATISTICS)
        if unknown:
            raise ConfigError(
                f"drift thresholds for unknown statistics {sorted(unknown)}; valid: {list(STATISTICS)}"
            )
        self.profile = profile
        self.thresholds = {name: float(thresholds.get(name, 0.2)) for name in STATISTICS}
        self.min_samples = min_samples
        self.window: dict[str, deque] = {name: deque(maxlen=window) for name in STATISTICS}
        self.seen = 0

    def update(self, statistics: dict[str, np.ndarray]) -> None:
        for name in STATISTICS:
            self.window[name].extend(statistics[name].tolist())
        self.seen += len(statistics["predicted_label"])

    def report(self) -> dict[str, Any]:
        """{statistic: {psi, threshold, drifted}}; scores are null until `min_samples` texts were seen."""
        size = len(self.window["predicted_label"])
        report: dict[str, Any] = {"window": size, "requests_seen": self.seen, "statistics": {}}
        scores = (
            self.profile.psi({name: np.asarray(self.window[name]) for name in STATISTICS})
            if size >= self.min_samples
            else {}
        )
        for name in STATISTICS:
            score = scores.get(name)
            report["statistics"][name] = {
                "psi": score,
                "threshold": self.thresholds[name],
                "drifted": bool(score is not None and score > self.thresholds[name]),
            }
        report["drifted"] = [name for name, entry in report["statistics"].items() if entry["drifted"]]
        return report
