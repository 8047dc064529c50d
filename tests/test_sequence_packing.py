"""data.packing=true: whole lines packed side by side per block, attention kept inside each line, so a
packed run scores every token exactly as the same lines one per row do, with less padding."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from nlpzoo.data import LanguageModelingData
from nlpzoo.data.packing import best_fit, pack_examples
from nlpzoo.errors import ConfigError, DataError
from nlpzoo.models.base import ZooModule
from nlpzoo.tasks.spec import IGNORE_INDEX
from nlpzoo.training import build_datamodule, build_model, preflight
from tests.conftest import SHARED_DATA, compose_config

SHAKESPEARE = SHARED_DATA / "tinyshakespeare" / "input.txt"
DATA = [
    "data=tinyshakespeare",
    f"data.path={SHAKESPEARE}",
    "data.block_size=32",
    "data.max_train_samples=120",
    "data.max_val_samples=40",
    "data.max_test_samples=40",
    "data.batch_size=8",
]
FAMILIES = {
    "gpt": ["model=gpt", "model.dim=32", "model.heads=2", "model.layers=2", "tokenizer=word"],
    "llama": ["model=llama", "model.from_config=true"],  # a tiny random Llama with a trained word vocabulary
    "gpt2": ["model=gpt2", "model.from_config=true"],  # learned absolute positions, read at position_ids
}


def test_best_fit_fills_the_tightest_block_in_order() -> None:
    # 5 opens block 0 (3 free), 4 opens block 1, 3 fills block 0 (its tightest fit), 2 joins block 1, 6 opens block 2
    assert best_fit([5, 4, 3, 2, 6], capacity=8) == [[0, 2], [1, 3], [4]]


def test_packed_block_resets_positions_and_scores_no_first_token() -> None:
    packed = pack_examples({"input_ids": [[1, 2, 3], [4, 5], [6]]}, block_size=8)  # [6] predicts nothing
    assert packed["input_ids"] == [[1, 2, 3, 4, 5]]
    assert packed["document_ids"] == [[1, 1, 1, 2, 2]]
    assert packed["position_ids"] == [[0, 1, 2, 0, 1]]
    assert packed["labels"] == [[IGNORE_INDEX, 2, 3, IGNORE_INDEX, 5]]  # 4 is not predicted from 3


def build(family: str, data: list[str], tmp_path: Path) -> tuple[Any, ZooModule]:
    """The DataModule (set up) and the model a `train.py` run with these overrides builds."""
    cfg = compose_config([*FAMILIES[family], *DATA, *data], tmp_path)
    preflight(cfg)
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    torch.manual_seed(0)
    return datamodule, build_model(cfg, datamodule).eval()


def nll_and_tokens(model: ZooModule, datamodule: Any) -> tuple[float, int]:
    """Summed next-token NLL and the number of scored tokens over the training split."""
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in datamodule.split_dataloader("train"):
            logits, labels = model.objective.aligned(model(batch), batch)
            total += float(F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="sum"))
            count += int((labels != IGNORE_INDEX).sum())
    return total, count


@pytest.mark.parametrize("family", list(FAMILIES))
def test_packed_loss_per_token_equals_one_line_per_row(family: str, tmp_path: Path) -> None:
    unpacked, model = build(family, ["data.sampling=examples"], tmp_path / "unpacked")
    packed, _ = build(family, ["data.packing=true"], tmp_path / "packed")
    assert len(packed.splits["train"]) < len(unpacked.splits["train"]) / 2  # several lines per block
    nll, tokens = nll_and_tokens(model, unpacked)
    packed_nll, packed_tokens = nll_and_tokens(model, packed)
    assert packed_tokens == tokens
    assert packed_nll / packed_tokens == pytest.approx(nll / tokens, rel=1e-5)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_editing_one_example_leaves_its_block_neighbours_logits(family: str, tmp_path: Path) -> None:
    datamodule, model = build(family, ["data.packing=true"], tmp_path)
    batch = next(iter(datamodule.split_dataloader("train")))
    documents = batch["document_ids"][0]  # (T,) of the first block
    first, rest = documents == 1, documents > 1
    assert rest.any()
    edited = {**batch, "input_ids": batch["input_ids"].clone()}
    edited["input_ids"][0, first] = (edited["input_ids"][0, first] + 7) % model.spec.vocab_size
    with torch.no_grad():
        before, after = model(batch)["logits"][0], model(edited)["logits"][0]  # (T, V)
    assert not torch.allclose(before[first], after[first], atol=1e-4)  # the edit reaches its own example
    torch.testing.assert_close(after[rest], before[rest], atol=1e-5, rtol=1e-5)


def test_packing_with_a_family_that_cannot_mask_fails_before_data(tmp_path: Path) -> None:
    cfg = compose_config(["model=lstm", *DATA, "data.packing=true"], tmp_path)
    with pytest.raises(
        ConfigError, match=r"data\.packing=true: model family 'recurrent' cannot keep each packed"
    ):
        preflight(cfg)


def test_packing_needs_blocks_of_lines_not_random_windows() -> None:
    with pytest.raises(DataError, match="packing=true packs lines into blocks: it needs sampling=blocks"):
        LanguageModelingData(sampling="random_windows", packing=True)


def test_packed_training_run_reports_less_padding(
    train_script: Callable[..., Any], tmp_path: Path, shared_data: Path
) -> None:
    run_dir = tmp_path / "run"
    result = train_script(
        [
            *FAMILIES["gpt"],
            *DATA,
            "data.packing=true",
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
            f"hydra.run.dir={run_dir}",
        ],
        tiny=False,
    )
    assert result.returncode == 0, result.log
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["padding_fraction"] < summary["padding_fraction_unpacked"] / 2
    assert summary["metrics"]["test/ppl"] > 1
