"""LoRA (`model.peft=lora`) on an encoder, a decoder and an encoder-decoder, through the real recipe.

Each base is a tiny random `transformers` model saved as a local folder with its tokenizer, which is
how a user names any pretrained model (`model.pretrained=DIR`): the checkpoint then carries only
what trained, reloads on top of the folder, and exports merged into plain `transformers` weights.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import PeftModel
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
)

from nlpzoo.checkpoint import load_module, read_checkpoint
from nlpzoo.errors import ConfigError
from nlpzoo.models import export_checkpoint
from nlpzoo.tokenizers.word import WordTokenizer
from tests.conftest import SHARED_DATA
from tests.tiny_transformers import TINY_CONFIGS, spec

DATA = SHARED_DATA


@dataclass
class Case:
    model: str  # conf/model/<model>.yaml
    model_type: str
    auto_class: Any  # what the merged export loads with
    texts: Callable[[], list[str]]  # the base tokenizer's training texts
    data: list[str]
    extra_config: dict[str, Any] = field(default_factory=dict)


def sst2_texts() -> list[str]:
    return [line.split("\t")[0] for line in (DATA / "sst2" / "train.tsv").read_text().splitlines()[1:3000]]


def shakespeare_texts() -> list[str]:
    return (DATA / "tinyshakespeare" / "input.txt").read_text().splitlines()[:3000]


def multi30k_texts() -> list[str]:
    return [
        line
        for name in ("train.de.gz", "train.en.gz")
        for line in gzip.open(DATA / "multi30k" / name, "rt").read().splitlines()[:2000]
    ]


SLICE = [
    "data.max_train_samples=64",
    "data.max_val_samples=16",
    "data.max_test_samples=16",
    "data.batch_size=16",
]
CASES = {
    "encoder": Case(
        "bert",
        "bert",
        AutoModelForSequenceClassification,
        sst2_texts,
        ["data=sst2", f"data.path={DATA / 'sst2'}"],
    ),
    "decoder": Case(
        "gpt2",
        "gpt2",
        AutoModelForCausalLM,
        shakespeare_texts,
        ["data=tinyshakespeare", f"data.path={DATA / 'tinyshakespeare' / 'input.txt'}", "data.block_size=32"],
    ),
    "encoder_decoder": Case(
        "t5",
        "t5",
        AutoModelForSeq2SeqLM,
        multi30k_texts,
        [
            "data=multi30k",
            f"data.path={DATA / 'multi30k'}",
            "model.generation.max_new_tokens=4",
            "model.generation.num_beams=1",
        ],
    ),
}


def tiny_pretrained_folder(case: Case, folder: Path) -> Path:
    """A tiny random model of the case's architecture with a word vocabulary, saved as a pretrained model is."""
    tokenizer = WordTokenizer(max_vocab_size=2000).build(case.texts())
    config = AutoConfig.for_model(
        case.model_type,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        **TINY_CONFIGS[case.model_type],
    )
    torch.manual_seed(0)
    case.auto_class.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def batch_of(loaded: Any, texts: list[str]) -> dict[str, torch.Tensor]:
    encoded = loaded.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
    batch = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
    if loaded.module.spec.kind.value == "seq2seq":
        batch["decoder_input_ids"] = encoded["input_ids"][:, :4]
    return batch


@pytest.mark.parametrize("name", list(CASES))
def test_lora_trains_adapters_only_and_exports_merged(
    name: str, train_run: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    case = CASES[name]
    base = tiny_pretrained_folder(case, tmp_path / "base")
    summary = train_run(
        [
            f"model={case.model}",
            f"model.pretrained={base}",
            "model.peft=lora",
            "model.optimizer.lr=0.01",
            *case.data,
            *SLICE,
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
        ],
        tiny=False,
    )
    trainable, total = summary["num_trainable_parameters"], summary["num_parameters"]
    assert 0 < trainable < 0.2 * total

    checkpoint = read_checkpoint(summary["best_checkpoint"])
    saved = checkpoint["state_dict"]
    assert all("lora_" in key or "modules_to_save" in key for key in saved), sorted(saved)[:5]
    # The checkpoint holds what trained, nothing more.
    assert sum(v.numel() for v in saved.values()) == trainable

    loaded = load_module(summary["best_checkpoint"])
    assert all(
        "lora_" in n or "modules_to_save" in n for n, p in loaded.module.named_parameters() if p.requires_grad
    )
    batch = batch_of(loaded, ["the king is good", "a man rides a bike"])
    with torch.no_grad():
        ours = loaded.module.model(**batch).logits
        untouched = case.auto_class.from_pretrained(
            base, **loaded.module.label_config() if name == "encoder" else {}
        )
        assert not torch.allclose(untouched.eval()(**batch).logits, ours, atol=1e-4)  # training changed it

        merged = case.auto_class.from_pretrained(
            export_checkpoint(summary["best_checkpoint"], tmp_path / "merged")
        )
        assert not any("lora" in n for n, _ in merged.named_parameters())  # plain transformers weights
        torch.testing.assert_close(merged.eval()(**batch).logits, ours, atol=1e-4, rtol=1e-4)

        adapter = export_checkpoint(summary["best_checkpoint"], tmp_path / "adapter", adapter="alone")
        assert (adapter / "adapter_config.json").is_file() and not (adapter / "model.safetensors").exists()
        base_model = case.auto_class.from_pretrained(
            base, **loaded.module.label_config() if name == "encoder" else {}
        )
        with_adapter = PeftModel.from_pretrained(base_model, adapter).eval()
        torch.testing.assert_close(with_adapter(**batch).logits, ours, atol=1e-4, rtol=1e-4)


def test_lora_options_are_checked_before_any_model_is_built() -> None:
    from nlpzoo.models import PretrainedEncoder
    from nlpzoo.tasks import TaskKind

    tiny = {"from_config": True, "model_type": "bert", "config_overrides": TINY_CONFIGS["bert"]}
    with pytest.raises(ConfigError, match=r"model\.peft=prefix is not one of: lora"):
        PretrainedEncoder(spec(TaskKind.TEXT_CLASSIFICATION, label_names=["a", "b"]), peft="prefix", **tiny)
    with pytest.raises(ConfigError, match=r"model.lora has unknown key\(s\) \['rank'\]"):
        PretrainedEncoder(
            spec(TaskKind.TEXT_CLASSIFICATION, label_names=["a", "b"]), peft="lora", lora={"rank": 4}, **tiny
        )
