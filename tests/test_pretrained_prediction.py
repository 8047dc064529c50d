"""predict.py model=NAME: a pretrained model predicts as it is, with no checkpoint of ours (as eval.py
evaluates one), the chat template applied for an instruct model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from nlpzoo.errors import ConfigError
from nlpzoo.prediction import run_prediction
from tests.conftest import compose_config
from tests.test_llama_family import tiny_llama  # noqa: F401  (the fixture)


def test_predict_py_answers_in_chat_with_a_pretrained_model_and_no_checkpoint(
    tiny_llama: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    overrides = [
        "model=llama",
        f"model.pretrained={tiny_llama}",
        "model.chat=true",
        "input=of the",
        "generation.max_new_tokens=3",
    ]
    output = run_prediction(compose_config(overrides, tmp_path, config_name="predict"))
    assert output == tmp_path / "predictions.jsonl"  # this run's directory: there is no checkpoint's
    [line] = [json.loads(row) for row in output.read_text().splitlines()]

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    turn = tokenizer.apply_chat_template([{"role": "user", "content": "of the"}], add_generation_prompt=True)
    prompt = torch.tensor([turn if isinstance(turn, list) else turn["input_ids"]])
    with torch.no_grad():
        greedy = model.generate(prompt, max_new_tokens=3, do_sample=False)[0, prompt.shape[1] :]
    expected = tokenizer.decode(
        greedy[: (greedy == tokenizer.eos_token_id).nonzero()[0, 0]]
        if tokenizer.eos_token_id in greedy
        else greedy,
        skip_special_tokens=True,
    )
    assert line == {"input": "of the", "generated": expected}


def test_predict_py_without_a_checkpoint_needs_a_pretrained_family(tmp_path: Path) -> None:
    cfg = compose_config(["model=lstm", "tokenizer=word", "input=a text"], tmp_path, config_name="predict")
    with pytest.raises(ConfigError, match="needs a pretrained family"):
        run_prediction(cfg)
    with pytest.raises(ConfigError, match="needs ckpt_path="):
        run_prediction(compose_config(["input=a text"], tmp_path, config_name="predict"))


@pytest.mark.slow
def test_predict_py_model_smollm2_answers_the_question(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = ["model=smollm2", "input=What is the capital of France?", "progress=false"]
    run_prediction(compose_config(overrides, tmp_path, config_name="predict"))
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    assert "Paris" in printed["generated"]


def test_predict_py_labels_texts_zero_shot_by_the_data_configs_label_names(
    tiny_llama: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    overrides = [
        "model=llama",
        f"model.pretrained={tiny_llama}",
        "model.zero_shot_prompt='the review {text} is'",
        "data=sst2",  # read for its label names only: no split is loaded
        "data.path=/no/such/folder",
        'input=["my good lord","the lord"]',
    ]
    output = run_prediction(compose_config(overrides, tmp_path, config_name="predict"))
    lines = [json.loads(row) for row in output.read_text().splitlines()]
    assert [line["input"] for line in lines] == ["my good lord", "the lord"]
    assert all(line["label"] in ("negative", "positive") and 0.5 <= line["score"] <= 1 for line in lines)
