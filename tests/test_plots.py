"""Plots a run leaves behind: PNG files in the run directory, and the same images in TensorBoard and W&B."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
import wandb
from lightning.pytorch.loggers import TensorBoardLogger
from PIL import Image
from sklearn.decomposition import PCA
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from nlpzoo import plots
from nlpzoo.callbacks import PlotWriter
from nlpzoo.checkpoint import read_checkpoint
from nlpzoo.models.base import ZooModule
from nlpzoo.tasks import Batch, Outputs, TaskKind, TaskSpec
from nlpzoo.training import build_datamodule
from tests.conftest import TINY, compose_config
from tests.wandb_records import records


def assert_picture(path: Path, min_width: int = 300, min_height: int = 200) -> tuple[int, int]:
    """A real PNG of a readable size with something drawn on it (not one flat colour)."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert width >= min_width and height >= min_height, (path, image.size)
    assert width <= 4000 and height <= 4000
    assert colours is not None and len(colours) > 20
    return width, height


def tensorboard_images(log_dir: Path) -> dict[str, list[Any]]:
    """Image tag -> events, from every event file the run wrote."""
    images: dict[str, list[Any]] = {}
    for events in sorted(log_dir.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["images"]:
            images.setdefault(tag, []).extend(accumulator.Images(tag))
    return images


def wandb_history(run_file: Path) -> list[dict[str, Any]]:
    """The history rows of an offline W&B run, values decoded from JSON."""
    return [
        {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
        for record in records(run_file)
        if record.WhichOneof("record_type") == "history"
    ]


def test_a_training_run_saves_its_plots_and_logs_them_to_tensorboard_and_wandb(
    train_run, tmp_path: Path
) -> None:
    summary = train_run(
        ["logger=many", "logger.wandb.log_model=false", "trainer.max_epochs=2", "trainer.log_every_n_steps=2"]
    )
    run_dir = Path(summary["output_dir"])
    folder = run_dir / "plots"
    assert sorted(p.name for p in folder.iterdir()) == [
        "confusion_matrix_test.png",
        "confusion_matrix_val.png",
        "learning_curves.png",
    ]  # no attention or embedding plots: the recurrent family has neither
    sizes = {path.stem: assert_picture(path) for path in folder.iterdir()}

    images = tensorboard_images(run_dir / "tensorboard")
    assert {"plots/learning_curves", "plots/confusion_matrix_val", "plots/confusion_matrix_test"} <= set(
        images
    )
    curves = images["plots/learning_curves"][-1]
    assert (curves.width, curves.height) == sizes["learning_curves"]
    assert curves.step == summary["global_steps"]

    # The curves' history travels in checkpoints (loadable with weights_only), so a resumed run draws them whole.
    history = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["callbacks"]["PlotWriter"]["history"]
    assert [row["step"] for row in history if "val/acc" in row] == [
        summary["global_steps"] // 2,
        summary["global_steps"],
    ]

    wandb.finish()  # end the offline run and write its log out, as the end of `python train.py` does
    wandb.teardown()
    (run_file,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    logged = {
        key.rsplit("/", 1)[0]: row
        for row in wandb_history(run_file)
        for key in row
        if key.endswith("/filenames")
    }
    assert {"plots/learning_curves", "plots/confusion_matrix_val", "plots/confusion_matrix_test"} <= set(
        logged
    )
    row = logged["plots/confusion_matrix_test"]
    assert row["plots/confusion_matrix_test/_type"] == "images/separated"
    (media,) = row["plots/confusion_matrix_test/filenames"]
    assert assert_picture(run_file.parent / "files" / media) == sizes["confusion_matrix_test"]


class AttentionClassifier(ZooModule):
    """Token embeddings, one multi-head self-attention layer, mean pooling: a family with attention to show."""

    family = "attention_classifier"
    supported_tasks = (TaskKind.TEXT_CLASSIFICATION,)

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.embedding = nn.Embedding(spec.vocab_size, 16, padding_idx=spec.pad_token_id)
        self.attention = nn.MultiheadAttention(16, num_heads=2, batch_first=True)
        self.head = nn.Linear(16, spec.num_labels)

    def forward(self, batch: Batch) -> Outputs:
        mask = batch["attention_mask"].bool()  # (B, T)
        x = self.embedding(batch["input_ids"])  # (B, T, 16)
        attended, weights = self.attention(x, x, x, key_padding_mask=~mask, average_attn_weights=False)
        pooled = (attended * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)  # (B, 16)
        outputs = {"logits": self.head(pooled)}
        if not self.training:
            outputs["attentions"] = weights  # (B, heads, T, T)
        return outputs

    def word_vectors(self) -> torch.Tensor:
        return self.embedding.weight


def test_attention_and_word_vectors_are_drawn_when_the_family_gives_them(
    tmp_path: Path, shared_data: Path
) -> None:
    cfg = compose_config(
        [*TINY, f"data.path={shared_data / 'sst2'}", "data.bucket_by_length=false"], tmp_path / "run"
    )
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    writer = PlotWriter(str(tmp_path / "plots"), embedding_words=40, attention_tokens=64)
    logger = TensorBoardLogger(str(tmp_path), name="tensorboard", version="")
    trainer = L.Trainer(
        max_epochs=1,
        callbacks=[writer],
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(AttentionClassifier(datamodule.spec), datamodule=datamodule)

    assert set(writer.written) == {"learning_curves", "confusion_matrix_val", "attention", "embeddings_pca"}
    for path in writer.written.values():
        assert_picture(path)
    assert set(tensorboard_images(tmp_path / "tensorboard")) >= {"plots/attention", "plots/embeddings_pca"}

    # The heatmap is labelled with the first validation example's tokens, without its padding.
    first = datamodule.splits["validation"][0]
    tokens = datamodule.tokenizer.convert_ids_to_tokens(first["input_ids"])
    drawn = writer._attention_figure(trainer, trainer.lightning_module)
    assert [tick.get_text() for tick in drawn.axes[0].get_xticklabels()] == tokens
    assert [axes.get_title() for axes in drawn.axes] == ["mean of 2 heads", "head 0", "head 1"]


def test_confusion_matrix_shows_the_counts_and_accuracy() -> None:
    matrix = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 4]])
    figure = plots.confusion_matrix(matrix, ["neg", "neu", "pos"])
    axes = figure.axes[0]
    cells = [int(text.get_text()) for text in axes.texts]
    assert cells == matrix.flatten().tolist()
    assert axes.get_title().endswith(f"(accuracy {16 / 20:.3f})")
    assert [tick.get_text() for tick in axes.get_yticklabels()] == ["neg", "neu", "pos"]


def test_learning_curves_put_loss_first_and_each_split_on_its_own_line() -> None:
    history = [
        {"step": 2, "train/loss": 0.9},
        {"step": 4, "train/loss": 0.7},
        {"step": 4, "val/loss": 0.8, "val/acc": 0.6},
        {"step": 8, "train/loss": 0.5, "val/loss": 0.6, "val/acc": 0.7},
    ]
    figure = plots.learning_curves(history)
    assert [axes.get_title() for axes in figure.axes] == ["loss", "acc"]
    lines = {line.get_label(): line.get_data() for line in figure.axes[0].get_lines()}
    assert lines["train"][0].tolist() == [2, 4, 8] and lines["train"][1].tolist() == [0.9, 0.7, 0.5]
    assert lines["val"][1].tolist() == [0.8, 0.6]


def test_pca_projection_matches_scikit_learn() -> None:
    vectors = np.random.default_rng(0).normal(size=(50, 8)) * np.arange(1, 9)
    ours = plots.pca_2d(vectors)
    reference = PCA(n_components=2).fit_transform(vectors)
    assert np.allclose(np.abs(ours), np.abs(reference), atol=1e-8)  # components are defined up to sign
    figure = plots.embedding_projection(vectors, [f"w{i}" for i in range(50)])
    assert len(figure.axes[0].texts) == 50


@pytest.mark.parametrize("heads", [1, 6])
def test_attention_heatmap_panels(heads: int) -> None:
    weights = np.random.default_rng(1).dirichlet(
        np.ones(5), size=(heads, 3)
    )  # (heads, T_target=3, T_source=5)
    figure = plots.attention_heatmap(weights, ["a", "b", "c"], list("vwxyz"))
    expected = ["head 0"] if heads == 1 else [f"mean of {heads} heads", "head 0", "head 1", "head 2"]
    assert [axes.get_title() for axes in figure.axes] == expected
    assert np.allclose(figure.axes[0].images[0].get_array(), weights.mean(0))


def test_word_projection_shows_the_most_frequent_corpus_words(tmp_path: Path) -> None:
    words = [
        "zebra",
        "the",
        "of",
        "quark",
        "and",
    ]  # a corpus vocabulary (no tokenizer), not in frequency order
    spec = TaskSpec(
        kind=TaskKind.TEXT_CLASSIFICATION,
        vocab_size=5,
        label_names=["a", "b"],
        words=words,
        counts=[1, 90, 70, 2, 50],
    )
    module = AttentionClassifier(spec)
    writer = PlotWriter(str(tmp_path), embedding_words=3)
    figure = writer._embedding_figure(L.Trainer(logger=False), module, module.word_vectors())
    assert [text.get_text() for text in figure.axes[0].texts] == ["the", "of", "and"]


@pytest.mark.parametrize("during_fit", [True, False])
def test_learning_curves_can_wait_for_the_end_of_training(tmp_path: Path, during_fit: bool) -> None:
    """curves_during_fit=false (the word-vector recipes): no drawing after each validation, seconds
    each, only the final one when training ends."""
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn

    writer = PlotWriter(str(tmp_path), curves_during_fit=during_fit)
    trainer = SimpleNamespace(
        sanity_checking=False,
        state=SimpleNamespace(fn=TrainerFn.FITTING),
        callback_metrics={"val/wordsim353_spearman": torch.tensor(0.4)},
        is_global_zero=True,
        global_step=10,
        loggers=[],
    )
    module = SimpleNamespace(metric_tables={})
    writer.on_validation_end(trainer, module)
    assert (tmp_path / "learning_curves.png").exists() is during_fit
    writer.on_fit_end(trainer, SimpleNamespace())
    assert (tmp_path / "learning_curves.png").exists() and writer.history[-1]["step"] == 10
