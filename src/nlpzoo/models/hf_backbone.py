"""Loading, sizing and freezing Hugging Face `transformers` models for the pretrained families.

A backbone comes from a hub name or local folder (`pretrained`), from a config alone
(`from_config=True`: random init, any sizes, how tests run fast), or, when a checkpoint is
reloaded, from the exact config it was trained with (no weights are downloaded again).
Remote code never runs unless `trust_remote_code=True`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import CONFIG_MAPPING, AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedModel

from nlpzoo.errors import ConfigError
from nlpzoo.tasks import TaskSpec

# Names of transformer blocks in the architectures the zoo serves: BERT/RoBERTa `layer.3.`,
# GPT-2 `h.3.`, T5 `block.3.`, BART/Marian `layers.3.`, DistilBERT `layer.3.`.
LAYER_INDEX = re.compile(r"\.(?:layer|layers|h|block)\.(\d+)\.")
EMBEDDING_MARKERS = ("embed", "wte.", "wpe.", "shared.")
KNOWN_TYPES = "bert, roberta, distilbert, gpt2, t5, bart, marian"


# What `from_config=true` builds for every size config_overrides leave out: 2 layers of width 64
# with 2 heads, whatever the architecture calls them (keys a config class does not take are skipped).
TINY_SIZES: dict[str, int] = {
    **dict.fromkeys(("hidden_size", "d_model", "n_embd", "dim"), 64),
    **dict.fromkeys(
        ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers", "decoder_layers"), 2
    ),
    **dict.fromkeys(
        (
            "num_attention_heads",
            "num_heads",
            "n_head",
            "n_heads",
            "encoder_attention_heads",
            "decoder_attention_heads",
        ),
        2,
    ),
    **dict.fromkeys(
        ("intermediate_size", "d_ff", "n_inner", "hidden_dim", "encoder_ffn_dim", "decoder_ffn_dim"), 128
    ),
    "d_kv": 32,  # T5's per-head width
}


def build_config(
    pretrained: str | None,
    model_type: str | None,
    overrides: dict[str, Any],
    trust_remote_code: bool,
    saved_config: dict[str, Any] | None = None,
    from_config: bool = False,
) -> PretrainedConfig:
    """The model config: a reloaded one, the pretrained model's own, or (`from_config`, or no
    `pretrained`) a fresh, tiny one of `model_type`, built without asking the hub."""
    if saved_config is not None:
        saved = dict(saved_config)
        return AutoConfig.for_model(saved.pop("model_type"), **saved)
    if from_config or not pretrained:
        return fresh_config(model_type, overrides)
    try:
        return AutoConfig.from_pretrained(pretrained, trust_remote_code=trust_remote_code, **overrides)
    except Exception as error:
        raise ConfigError(
            f"cannot load the config of model.pretrained={pretrained!r} ({type(error).__name__}: {error}); give a "
            f"hub name, a local folder with config.json, or model.from_config=true for a randomly initialised model"
        ) from error


def fresh_config(model_type: str | None, overrides: dict[str, Any]) -> PretrainedConfig:
    """A randomly initialised architecture's config from `model_type` alone (offline): TINY_SIZES unless
    `overrides` give the sizes (in the architecture's own key names or their aliases)."""
    if not model_type:
        raise ConfigError(
            "model.from_config=true builds the architecture model.model_type names: set "
            "model.model_type=bert|roberta|distilbert|gpt2|t5|bart|marian|..."
        )
    if model_type not in CONFIG_MAPPING:
        raise ConfigError(
            f"model.model_type={model_type!r} is not a transformers model type, e.g. {KNOWN_TYPES}"
        )
    config_class = CONFIG_MAPPING[model_type]
    accepted = set(inspect.signature(config_class.__init__).parameters)
    given = {config_class.attribute_map.get(key, key) for key in overrides}
    sizes = {key: value for key, value in TINY_SIZES.items() if key in accepted and key not in given}
    try:
        return config_class(**{**sizes, **overrides})
    except Exception as error:
        raise ConfigError(
            f"cannot build a {model_type} config from model.config_overrides={overrides} "
            f"({type(error).__name__}: {error})"
        ) from error


def load_model(
    auto_class: Any,
    config: PretrainedConfig,
    pretrained: str | None,
    from_weights: bool,
    trust_remote_code: bool,
) -> PreTrainedModel:
    """`auto_class` (AutoModelFor...) with pretrained weights, or randomly initialised from `config`."""
    try:
        if from_weights:
            return auto_class.from_pretrained(pretrained, config=config, trust_remote_code=trust_remote_code)
        return auto_class.from_config(config, trust_remote_code=trust_remote_code)
    except Exception as error:
        raise ConfigError(
            f"cannot build {auto_class.__name__} for {pretrained or config.model_type} "
            f"({type(error).__name__}: {error})"
        ) from error


def check_tokenizer_matches(spec: TaskSpec, pretrained: str, trust_remote_code: bool) -> None:
    """A pretrained vocabulary only works with its own tokenizer: compare the data's with the model's."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(pretrained, trust_remote_code=trust_remote_code)
    except Exception as error:
        raise ConfigError(f"cannot load the tokenizer of pretrained model '{pretrained}': {error}") from error
    expected = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "cls_token_id": tokenizer.cls_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "mask_token_id": tokenizer.mask_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    differ = {
        k: (getattr(spec, k), v) for k, v in expected.items() if v is not None and getattr(spec, k) != v
    }
    if differ:
        raise ConfigError(
            f"the data was tokenized with a different vocabulary than pretrained model '{pretrained}' "
            f"(data vs model: {differ}); use tokenizer=pretrained tokenizer.name_or_path={pretrained}"
        )


def check_tokenizer_config(model_cfg: Any, tokenizer_cfg: Any) -> None:
    """Before any data is read: a pretrained model needs `tokenizer=pretrained` with its own name."""
    if model_cfg.get("from_config"):  # before reading `pretrained`, which a resolver may compute (GGUF)
        return
    pretrained = model_cfg.get("pretrained")
    if not pretrained:
        return
    target = str((tokenizer_cfg or {}).get("_target_", ""))
    name = (tokenizer_cfg or {}).get("name_or_path")
    if not target.endswith("PretrainedTokenizer") or not same_source(str(name), str(pretrained)):
        raise ConfigError(
            f"model.pretrained={pretrained} has a pretrained vocabulary, but the tokenizer is "
            f"{target.rsplit('.', 1)[-1] or 'none'}{f' ({name})' if name else ''}: "
            f"use tokenizer=pretrained tokenizer.name_or_path={pretrained} (or model.from_config=true)"
        )


def same_source(a: str, b: str) -> bool:
    """Two hub names or paths naming the same model (paths compared after resolving)."""
    if a == b:
        return True
    return Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve()


def layer_depth(name: str, num_layers: int) -> int:
    """0 for embeddings, i + 1 for transformer block i, num_layers + 1 for heads, poolers, final norms."""
    match = LAYER_INDEX.search(f".{name}")
    if match:
        return min(int(match.group(1)), num_layers - 1) + 1
    if any(marker in name for marker in EMBEDDING_MARKERS):
        return 0
    return num_layers + 1


def layerwise_lr_scale(decay: float, num_layers: int) -> Callable[[str], float]:
    """Layer-wise LR decay (ULMFiT, ELECTRA): block i learns at decay ** (num_layers - i) of the head's rate."""

    def scale(name: str) -> float:
        return float(decay ** (num_layers + 1 - layer_depth(name, num_layers)))

    return scale


def num_layers_of(config: PretrainedConfig) -> int:
    for key in ("num_hidden_layers", "n_layer", "num_layers", "encoder_layers"):
        if isinstance(getattr(config, key, None), int):
            return int(getattr(config, key))
    raise ConfigError(f"cannot tell how many layers a {config.model_type} model has")


def freeze(
    model: torch.nn.Module, backbone_prefix: str | None, freeze_backbone: bool, freeze_layers: int
) -> int:
    """Stop gradients to the backbone (all but the head) or to embeddings + the first N blocks; returns count."""
    frozen = 0
    for name, parameter in model.named_parameters():
        in_backbone = backbone_prefix is None or name.startswith(f"{backbone_prefix}.")
        early = in_backbone and freeze_layers > 0 and layer_depth(name, 10**6) <= freeze_layers
        if in_backbone and (freeze_backbone or early):
            parameter.requires_grad_(False)
            frozen += parameter.numel()
    return frozen


def left_pad(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, pad_token_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded prompts -> left-padded ones, so a decoder continues each prompt from its last real token."""
    lengths = attention_mask.sum(-1)  # (B,)
    width = input_ids.shape[1]
    shift = (width - lengths).unsqueeze(-1)  # (B, 1)
    positions = (torch.arange(width, device=input_ids.device).unsqueeze(0) - shift) % width  # (B, T)
    ids = input_ids.gather(1, positions)
    mask = (torch.arange(width, device=input_ids.device).unsqueeze(0) >= shift).long()
    return ids.masked_fill(mask == 0, pad_token_id), mask
