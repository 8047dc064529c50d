"""Tiny, randomly initialised `transformers` configs: every Hugging Face family runs in milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerBase

from nlpzoo.tasks import TaskKind, TaskSpec

TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "bert": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
    "gpt2": {"n_embd": 32, "n_layer": 2, "n_head": 2},
    "t5": {"d_model": 32, "d_ff": 64, "num_layers": 2, "num_heads": 2, "d_kv": 16},
    "bart": {
        "d_model": 32,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 64,
        "decoder_ffn_dim": 64,
    },
}
TINY_CONFIGS["marian"] = TINY_CONFIGS["bart"]
TINY_CONFIGS["llama"] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
}  # grouped-query attention, as SmolLM2
# A chat template in the word vocabulary's tokens, for tiny instruct models.
CHAT_TEMPLATE = (
    "{% for m in messages %}[BOS] {{ m['role'] }} : {{ m['content'] }} [SEP] {% endfor %}"
    "{% if add_generation_prompt %}[BOS] assistant : {% endif %}"
)


def tiny(model_type: str, **options: Any) -> dict[str, Any]:
    """Constructor arguments of a from-config family module of `model_type`."""
    return {
        "from_config": True,
        "model_type": model_type,
        "config_overrides": TINY_CONFIGS[model_type],
        **options,
    }


def tiny_overrides(model_type: str) -> list[str]:
    """The same as Hydra overrides for `train.py`."""
    sizes = ",".join(f"{k}:{v}" for k, v in TINY_CONFIGS[model_type].items())
    return [
        "model.from_config=true",
        "model.pretrained=null",
        f"model.model_type={model_type}",
        f"model.config_overrides={{{sizes}}}",
    ]


def spec(kind: TaskKind, vocab_size: int = 60, **values: Any) -> TaskSpec:
    """A spec like a DataModule's, with nlpzoo's special-token layout ([PAD]=0, [BOS]=2, [EOS]=3, ...)."""
    defaults = {
        "pad_token_id": 0,
        "unk_token_id": 1,
        "bos_token_id": 2,
        "eos_token_id": 3,
        "mask_token_id": 4,
        "cls_token_id": 5,
        "sep_token_id": 6,
    }
    return TaskSpec(kind=kind, vocab_size=vocab_size, **{**defaults, **values})


def random_ids(batch: int, length: int, vocab_size: int = 60, seed: int = 0) -> torch.Tensor:
    """(batch, length) ids above the special tokens."""
    return torch.randint(7, vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))


def save_tiny_llama(folder: Path, tokenizer: PreTrainedTokenizerBase) -> Path:
    """A tiny random Llama (TINY_CONFIGS) of the tokenizer's vocabulary, saved with it as a model folder."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **TINY_CONFIGS["llama"],
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
