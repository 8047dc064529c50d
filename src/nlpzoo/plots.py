"""Figures people look at rather than read: learning curves, confusion matrix, attention, word vectors.

Each function takes plain arrays and returns a matplotlib `Figure` drawn on the Agg canvas, so
nothing here touches pyplot's global state or needs a display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
MAX_ANNOTATED_CLASSES = 20  # beyond this, cell counts would be unreadable
MAX_TICK_LABELS = 60  # tokens per attention axis that still get a readable label


def new_figure(width: float, height: float) -> Figure:
    """A figure with its own Agg canvas (no pyplot, no display)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: Path) -> Path:
    """Write the figure as PNG, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def figure_pixels(figure: Figure) -> np.ndarray:
    """The rendered figure as an RGB array (height, width, 3), as TensorBoard's `add_image` takes it."""
    canvas = figure.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()  # type: ignore[attr-defined]  # the Agg canvas


def learning_curves(history: Sequence[dict[str, float]]) -> Figure:
    """One panel per metric (loss first), each split a line over global steps.

    `history` rows look like {"step": 120, "train/loss": 0.41} or {"step": 120, "val/acc": 0.83}.
    """
    series: dict[str, dict[str, list[tuple[float, float]]]] = {}  # metric -> split -> [(step, value)]
    for row in history:
        for key, value in row.items():
            if "/" not in key or value is None or not math.isfinite(value):
                continue
            split, metric = key.split("/", 1)
            series.setdefault(metric, {}).setdefault(split, []).append((row["step"], value))
    metrics = sorted(series, key=lambda name: (name != "loss", name))
    columns = min(3, max(1, len(metrics)))
    rows = max(1, math.ceil(len(metrics) / columns))
    figure = new_figure(4.2 * columns, 3.2 * rows)
    if not metrics:
        figure.text(0.5, 0.5, "no metrics logged yet", ha="center", va="center")
        return figure
    for index, metric in enumerate(metrics):
        axes = figure.add_subplot(rows, columns, index + 1)
        for split, points in sorted(series[metric].items()):
            steps, values = zip(*points, strict=True)
            axes.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=split)
        axes.set_title(metric)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return figure


def confusion_matrix(
    matrix: np.ndarray, label_names: Sequence[str], title: str = "confusion matrix"
) -> Figure:
    """Counts (rows: true label, columns: prediction), coloured by each row's share so rare classes show."""
    matrix = np.asarray(matrix, dtype=np.int64)  # (classes, classes)
    classes = matrix.shape[0]
    names = list(label_names) if len(label_names) == classes else [str(i) for i in range(classes)]
    row_share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(12.0, 4.0 + 0.45 * classes)
    figure = new_figure(size + 1.2, size)
    axes = figure.add_subplot()
    image = axes.imshow(row_share, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label="share of the row")
    axes.set_xticks(range(classes), names, rotation=45, ha="right")
    axes.set_yticks(range(classes), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"{title} (accuracy {np.trace(matrix) / max(matrix.sum(), 1):.3f})")
    if classes <= MAX_ANNOTATED_CLASSES:
        for true, predicted in np.ndindex(classes, classes):
            dark = row_share[true, predicted] > 0.5
            axes.text(
                predicted,
                true,
                str(matrix[true, predicted]),
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize="small",
            )
    return figure


def attention_heatmap(
    weights: np.ndarray, target_tokens: Sequence[str], source_tokens: Sequence[str], title: str = "attention"
) -> Figure:
    """Attention of one example (heads, T_target, T_source): the mean over heads, then up to three heads."""
    weights = np.asarray(weights, dtype=np.float32)
    heads = weights.shape[0]
    panels = [(f"mean of {heads} heads", weights.mean(0))] if heads > 1 else []
    panels += [(f"head {h}", weights[h]) for h in range(min(heads, 3))]
    target_length, source_length = weights.shape[1:]
    cell = 0.16 if max(target_length, source_length) > 20 else 0.3
    width = max(3.5, cell * source_length + 1.5)
    height = max(3.0, cell * target_length + 1.5)
    figure = new_figure(width * len(panels), height)
    for index, (name, matrix) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        axes.imshow(matrix, cmap="viridis", aspect="auto", vmin=0.0)
        axes.set_title(name, fontsize="small")
        if source_length <= MAX_TICK_LABELS:
            axes.set_xticks(range(source_length), source_tokens, rotation=90, fontsize="x-small")
        if target_length <= MAX_TICK_LABELS:
            axes.set_yticks(range(target_length), target_tokens, fontsize="x-small")
        axes.set_xlabel("attended (source) tokens")
        if index == 0:
            axes.set_ylabel("attending (target) tokens")
    figure.suptitle(title)
    return figure


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """(N, D) vectors -> (N, 2) coordinates on their two principal components."""
    centered = np.asarray(vectors, dtype=np.float64) - np.mean(vectors, axis=0, keepdims=True)
    _, _, components = np.linalg.svd(centered, full_matrices=False)  # rows: principal directions
    return centered @ components[:2].T


def embedding_projection(
    vectors: np.ndarray, words: Sequence[str], title: str = "word embeddings (PCA)"
) -> Figure:
    """Word vectors (N, D) projected to 2-D with PCA, each point labelled with its word."""
    points = pca_2d(vectors)  # (N, 2)
    figure = new_figure(10.0, 8.0)
    axes = figure.add_subplot()
    axes.scatter(points[:, 0], points[:, 1], s=8, alpha=0.6)
    for (x, y), word in zip(points, words, strict=True):
        axes.annotate(word, (x, y), fontsize="x-small", alpha=0.8, xytext=(2, 2), textcoords="offset points")
    axes.set_xlabel("principal component 1")
    axes.set_ylabel("principal component 2")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    return figure
