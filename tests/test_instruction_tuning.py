"""Instruction tuning (`data.prompt`): seq2seq pairs as prompt/response sequences for a decoder-only
model, the loss on the response alone, generation from the prompt alone, and the DialogSum recipe's
zero-shot and tuned test scores in one summary.json (a tiny random Llama with a word vocabulary and a
chat template, as tests/test_llama_family.py builds)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM

import nlpzoo
from nlpzoo.data import Seq2SeqData
from nlpzoo.errors import ConfigError
from nlpzoo.models import PretrainedDecoder
from nlpzoo.tasks import IGNORE_INDEX
from nlpzoo.tokenizers import PretrainedTokenizer, WordTokenizer
from nlpzoo.training import preflight
from tests.conftest import SHARED_DATA, compose_config
from tests.tiny_transformers import CHAT_TEMPLATE, save_tiny_llama, tiny_overrides

DIALOGSUM = SHARED_DATA / "dialogsum"
PROMPT = "summarize : {source} summary :"
SLICES = ["data.max_train_samples=8", "data.max_val_samples=4", "data.max_test_samples=4"]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama saved with a word tokenizer of DialogSum's dev texts and a chat template."""
    folder = tmp_path_factory.mktemp("tiny_llama")
    rows = [json.loads(line) for line in (DIALOGSUM / "dialogsum.dev.jsonl").read_text().splitlines()]
    texts = [row["dialogue"] for row in rows] + [row["summary"] for row in rows]
    tokenizer = WordTokenizer(max_vocab_size=3000).build(
        [*texts, *["summarize summary user assistant :"] * 10]
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return save_tiny_llama(folder, tokenizer)


def dialogsum(folder: Path, chat: bool = False, max_length: int = 48) -> Seq2SeqData:
    """DialogSum's dev and test files as prompt/response pairs, tokenized with the tiny model's vocabulary."""
    data = Seq2SeqData(
        tokenizer=PretrainedTokenizer(str(folder)),
        path=str(DIALOGSUM),
        files={"train": "dialogsum.dev.jsonl", "test": "dialogsum.test.jsonl"},
        source_column="dialogue",
        target_column=["summary", "summary1"],
        task="summarization",
        prompt=PROMPT,
        chat=chat,
        max_length=max_length,  # the dialogue is cut to fit; the template stays whole around it
        max_target_length=12,
        max_train_samples=6,
        max_val_samples=3,
        max_test_samples=3,
        batch_size=3,
    )
    data.setup("fit")
    return data


def test_the_loss_reads_the_response_tokens_alone(tiny_llama: Path) -> None:
    data = dialogsum(tiny_llama)
    tokenizer = data.tokenizer
    batch = next(iter(data.train_dataloader()))
    model = PretrainedDecoder(data.spec, pretrained=str(tiny_llama))
    loss = model.objective.loss(model(batch), batch)

    before, after = (
        tokenizer(part, add_special_tokens=False)["input_ids"] for part in PROMPT.split("{source}")
    )
    total, count = 0.0, 0
    for ids, labels, mask, reference in zip(
        batch["input_ids"], batch["labels"], batch["attention_mask"], batch["target_text"], strict=True
    ):
        ids = ids[mask.bool()]  # the example alone, no padding
        response = tokenizer(reference, add_special_tokens=False, truncation=True, max_length=11)["input_ids"]
        response = [*response, tokenizer.eos_token_id]
        prompt = len(ids) - len(response)
        assert ids[: len(before)].tolist() == before and ids[prompt - len(after) : prompt].tolist() == after
        assert ids[prompt:].tolist() == response
        # labels: the response where it stands, IGNORE_INDEX on the prompt and the padding
        assert labels.tolist() == [IGNORE_INDEX] * prompt + response + [IGNORE_INDEX] * (
            len(labels) - len(ids)
        )
        with torch.no_grad():
            logits = model.model(input_ids=ids.unsqueeze(0)).logits[0]  # (T, V)
        log_probs = logits[prompt - 1 : -1].log_softmax(-1)  # the positions that predict the response
        total -= log_probs.gather(-1, torch.tensor(response).unsqueeze(-1)).sum().item()
        count += len(response)
    assert loss.item() == pytest.approx(total / count, rel=1e-4)


def test_evaluation_generates_from_the_prompt_alone_left_padded(tiny_llama: Path) -> None:
    data = dialogsum(tiny_llama, chat=True, max_length=512)
    batch = next(iter(data.test_dataloader()))
    model = PretrainedDecoder(
        data.spec, pretrained=str(tiny_llama), chat=True, generation={"max_new_tokens": 5}
    )
    model.eval()
    generated = model(batch)["generated_ids"]  # (B, new)

    prompts = batch["attention_mask"].bool() & (batch["labels"] == IGNORE_INDEX)
    assert len(set(prompts.sum(-1).tolist())) > 1  # prompts of different lengths share the batch
    for row, (ids, prompt) in enumerate(zip(batch["input_ids"], prompts, strict=True)):
        alone = ids[prompt].unsqueeze(0)  # this prompt, unpadded: no response token reaches the model
        assert data.tokenizer.convert_ids_to_tokens(alone[0, :4].tolist()) == [
            "[BOS]",
            "user",
            ":",
            "summarize",
        ]
        expected = model.model.generate(
            input_ids=alone, attention_mask=torch.ones_like(alone), generation_config=model.generation
        )[0, alone.shape[1] :]
        assert generated[row, : len(expected)].tolist() == expected.tolist()


def test_a_decoder_needs_a_prompt_and_an_encoder_decoder_refuses_one(tmp_path: Path) -> None:
    decoder = ["data=dialogsum", "model=llama", *tiny_overrides("llama")]
    with pytest.raises(ConfigError, match=r"data\.prompt='Summarize"):
        preflight(compose_config(decoder, tmp_path))
    encoder_decoder = ["data=dialogsum", "model=t5", *tiny_overrides("t5"), f"data.prompt='{PROMPT}'"]
    with pytest.raises(ConfigError, match="reads the source and the target apart"):
        preflight(compose_config(encoder_decoder, tmp_path))


def test_dialogsum_recipe_reports_zero_shot_and_tuned_rouge(
    tiny_llama: Path, train_script: Callable[..., Any], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = train_script(
        [
            "experiment=dialogsum_smollm2_lora",
            f"model.pretrained={tiny_llama}",
            *SLICES,
            "model.generation.max_new_tokens=4",
            f"hydra.run.dir={run_dir}",
        ],
        tiny=False,
    )
    assert result.returncode == 0, result.log
    metrics = json.loads((run_dir / "summary.json").read_text())["metrics"]
    for name in ("rouge1", "rouge2", "rougeL"):
        assert 0.0 <= metrics[f"zero_shot/test/{name}"] <= 1.0
        assert 0.0 <= metrics[f"test/{name}"] <= 1.0
    assert "val/rougeL" in metrics

    # predict.py / serve.py wrap a raw dialogue in the same chat prompt before generating.
    predictor = nlpzoo.load(str(run_dir), generation={"max_new_tokens": 3})
    dialogue = "#Person1#: Hi, how are you?\n#Person2#: Fine, thanks."
    prompt = predictor.tokenizer.convert_ids_to_tokens(predictor.encode([dialogue])["input_ids"][0].tolist())
    assert prompt[:4] == ["[BOS]", "user", ":", "summarize"] and prompt[-3:] == ["[BOS]", "assistant", ":"]
    assert len(predictor.predict([dialogue])[0]["generated"].split()) <= 3


@pytest.mark.slow
def test_smollm2_is_scored_zero_shot_and_tuned_on_dialogsum(
    train_script: Callable[..., Any], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = train_script(
        [
            "experiment=dialogsum_smollm2_lora",
            "data.max_train_samples=8",
            "data.max_val_samples=4",
            "data.max_test_samples=4",
            "data.batch_size=4",
            "model.generation.max_new_tokens=24",
            f"hydra.run.dir={run_dir}",
        ],
        tiny=False,
    )
    assert result.returncode == 0, result.log
    summary = json.loads((run_dir / "summary.json").read_text())
    metrics = summary["metrics"]
    assert summary["global_steps"] == 2
    assert summary["num_trainable_parameters"] < 0.05 * summary["num_parameters"]  # the LoRA updates
    # The base model, prompted in chat, already writes text that overlaps the reference summaries.
    assert 0.05 < metrics["zero_shot/test/rougeL"] < 1.0
    assert all(
        0.0 <= metrics[f"{prefix}test/{name}"] <= 1.0
        for prefix in ("", "zero_shot/")
        for name in ("rouge1", "rouge2")
    )
    assert 0.0 < metrics["test/rougeL"] < 1.0


def test_zero_shot_scores_the_base_model_with_the_adapter_switched_off(tiny_llama: Path) -> None:
    data = dialogsum(tiny_llama)
    batch = next(iter(data.test_dataloader()))
    model = PretrainedDecoder(data.spec, pretrained=str(tiny_llama), peft="lora")
    model.eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:  # as after training: the updates are no longer zero
                parameter.normal_()
        base = AutoModelForCausalLM.from_pretrained(tiny_llama)
        expected = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        with model.without_adapter():
            inside = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        adapted = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(inside, expected)
    assert not torch.allclose(adapted, expected)
