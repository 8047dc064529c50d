"""Drift monitoring: per-request statistics, a reference profile stored at export time, and PSI over a window.

The statistics depend on the task kind (`drift_statistics`: input length and unknown-token rate, predicted
label and confidence, entity types, answer length and no-answer rate, output length and repetition). The
reference profile keeps, per statistic, the bins and the share of reference requests in each (deciles for
numbers, one bin per category); a live window is binned the same way and compared with the population
stability index, PSI = sum_i (live_i - ref_i) * ln(live_i / ref_i). The usual reading: < 0.1 stable,
> 0.2 shifted.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpzoo.errors import ConfigError
from nlpzoo.serve.drift_statistics import ALL_STATISTICS

SHARE_FLOOR = 1e-4  # an empty bin counts as this share, so PSI stays finite


@dataclass
class ReferenceProfile:
    """Bins and reference shares per statistic, plus summary numbers for people reading the JSON."""

    edges: dict[str, list[float]]  # numeric statistic -> inner bin edges (bins: <=e0, (e0,e1], ..., >e_last)
    shares: dict[str, list[float]]  # statistic -> share of reference requests per bin (or per category)
    categories: dict[str, list[str]]  # categorical statistic -> its category names, in id order
    examples: int
    summary: dict[str, dict[str, float]]

    @classmethod
    def from_statistics(
        cls, statistics: dict[str, list[Any]], categories: dict[str, list[str]], bins: int = 10
    ) -> ReferenceProfile:
        """The profile of per-request statistics (`drift_statistics.request_statistics`, concatenated)."""
        edges, shares, summary = {}, {}, {}
        for name, values in statistics.items():
            if name in categories:
                shares[name] = category_shares(values, len(categories[name])).tolist()
                continue
            numbers = np.asarray(values, dtype=np.float64)
            inner = np.unique(np.quantile(numbers, np.linspace(0, 1, bins + 1)[1:-1]))
            edges[name] = inner.tolist()
            shares[name] = bin_shares(numbers, inner).tolist()
            summary[name] = {
                "mean": float(numbers.mean()),
                "p50": float(np.median(numbers)),
                "p95": float(np.quantile(numbers, 0.95)),
            }
        examples = len(next(iter(statistics.values())))
        return cls(edges, shares, categories, examples, summary)

    @property
    def statistics(self) -> list[str]:
        return list(self.shares)

    def psi(self, statistics: dict[str, list[Any]]) -> dict[str, float]:
        """PSI of each statistic of a live sample against this reference."""
        scores = {}
        for name in self.shares:
            live = (
                category_shares(statistics[name], len(self.categories[name]))
                if name in self.categories
                else bin_shares(np.asarray(statistics[name], dtype=np.float64), np.asarray(self.edges[name]))
            )
            scores[name] = population_stability_index(np.asarray(self.shares[name]), live)
        return scores

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> ReferenceProfile:
        if not Path(path).is_file():
            raise ConfigError(
                f"drift reference profile not found: {path}; export.py writes it next to the model"
            )
        try:
            return cls(**json.loads(Path(path).read_text()))
        except TypeError as error:
            raise ConfigError(
                f"{path} is not a drift profile of this version ({error}): run export.py again"
            ) from error


def category_shares(values: list[list[int]], count: int) -> np.ndarray:
    """Share of each category among all the ids of the requests (each request: a list of category ids)."""
    ids = np.asarray([i for row in values for i in row], dtype=np.int64)
    return np.bincount(ids, minlength=count)[:count] / max(len(ids), 1)


def bin_shares(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Share of `values` in each bin: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    counts = np.bincount(np.digitize(values, inner_edges, right=True), minlength=len(inner_edges) + 1)
    return counts / max(len(values), 1)


def population_stability_index(reference: np.ndarray, live: np.ndarray) -> float:
    """PSI between two share vectors over the same bins (empty bins floored at SHARE_FLOOR)."""
    reference, live = np.maximum(reference, SHARE_FLOOR), np.maximum(live, SHARE_FLOOR)
    return float(np.sum((live - reference) * np.log(live / reference)))


class DriftMonitor:
    """The same statistics over a sliding window of live requests, scored against the reference."""

    def __init__(
        self, profile: ReferenceProfile, window: int, thresholds: dict[str, float], min_samples: int
    ) -> None:
        unknown = set(thresholds) - set(ALL_STATISTICS)
        if unknown:
            raise ConfigError(
                f"drift thresholds for unknown statistics {sorted(unknown)}; valid: {list(ALL_STATISTICS)}"
            )
        self.profile = profile
        self.thresholds = {name: float(thresholds.get(name, 0.2)) for name in profile.statistics}
        self.min_samples = min_samples
        self.window: dict[str, deque] = {name: deque(maxlen=window) for name in profile.statistics}
        self.seen = 0

    def update(self, statistics: dict[str, list[Any]]) -> None:
        """Add one batch of per-request statistics (`drift_statistics.request_statistics`)."""
        for name, values in self.window.items():
            values.extend(statistics[name])
        self.seen += len(next(iter(statistics.values())))

    def report(self) -> dict[str, Any]:
        """{statistic: {psi, threshold, drifted}}; scores are null until `min_samples` requests were seen."""
        size = len(next(iter(self.window.values())))
        report: dict[str, Any] = {"window": size, "requests_seen": self.seen, "statistics": {}}
        scores = (
            self.profile.psi({name: list(values) for name, values in self.window.items()})
            if size >= self.min_samples
            else {}
        )
        for name in self.window:
            score = scores.get(name)
            report["statistics"][name] = {
                "psi": score,
                "threshold": self.thresholds[name],
                "drifted": bool(score is not None and score > self.thresholds[name]),
            }
        report["drifted"] = [name for name, entry in report["statistics"].items() if entry["drifted"]]
        return report
