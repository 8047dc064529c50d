"""LoRA adapters (Hu et al. 2021) on any pretrained family's `transformers` model, through `peft`.

`model.peft=lora` freezes the backbone and trains low-rank updates of its attention projections
(`model.lora.target_modules`, by default the usual ones of the architecture: BERT query/value,
GPT-2 c_attn, Llama q_proj/v_proj, T5 q/v, BART q_proj/v_proj) plus the task head, which is new.
Checkpoints then hold only what trains; `merged` folds the updates back into plain weights.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from torch import nn

from nlpzoo.errors import ConfigError

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel

PEFT_METHODS = ("lora",)
LORA_DEFAULTS: dict[str, Any] = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": None}
# Architectures peft's own default table leaves out.
EXTRA_TARGET_MODULES = {"distilbert": ["q_lin", "v_lin"], "marian": ["q_proj", "v_proj"]}
# Task heads the transformers classes add on top of the base model: new weights, so they train.
HEAD_MODULES = ("classifier", "score", "qa_outputs", "classification_head")


def lora_options(peft: str | None, lora: dict[str, Any] | None) -> dict[str, Any] | None:
    """The checked LoRA settings (defaults filled in), or None without `model.peft`."""
    if peft is None:
        return None
    if peft not in PEFT_METHODS:
        raise ConfigError(
            f"model.peft={peft} is not one of: {', '.join(PEFT_METHODS)} (or null: full fine-tuning)"
        )
    unknown = sorted(set(lora or {}) - set(LORA_DEFAULTS))
    if unknown:
        raise ConfigError(f"model.lora has unknown key(s) {unknown}; valid: {sorted(LORA_DEFAULTS)}")
    options = {**LORA_DEFAULTS, **{k: v for k, v in (lora or {}).items() if v is not None}}
    if int(options["r"]) < 1:
        raise ConfigError(f"model.lora.r={options['r']} must be at least 1")
    if not 0.0 <= float(options["dropout"]) < 1.0:
        raise ConfigError(f"model.lora.dropout={options['dropout']} must be in [0, 1)")
    return options


def target_modules_for(model: PreTrainedModel, given: list[str] | None) -> list[str]:
    """The module names to adapt: as given, else the architecture's usual attention projections."""
    if given:
        return list(given)
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    model_type = model.config.model_type
    modules = DEFAULTS.get(model_type) or EXTRA_TARGET_MODULES.get(model_type)
    if not modules:
        raise ConfigError(
            f"no default LoRA target modules for a '{model_type}' model: give model.lora.target_modules=[NAME, ...]"
        )
    return list(modules)


def head_modules(model: nn.Module) -> list[str]:
    """The transformers task head's top-level modules (classifier, score, ...), trained and saved in full."""
    return [name for name, _ in model.named_children() if name in HEAD_MODULES]


def add_lora(model: PreTrainedModel, options: dict[str, Any]) -> nn.Module:
    """`model` wrapped by peft with LoRA updates; only they and the task head remain trainable."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=int(options["r"]),
        lora_alpha=float(options["alpha"]),  # type: ignore[arg-type]  # peft annotates int; it scales by alpha / r
        lora_dropout=float(options["dropout"]),
        target_modules=target_modules_for(model, options["target_modules"]),
        modules_to_save=head_modules(model) or None,
        fan_in_fan_out=model.config.model_type == "gpt2",  # GPT-2's Conv1D stores weights transposed
    )
    try:
        return get_peft_model(model, config)
    except ValueError as error:  # a target module the model does not have
        raise ConfigError(f"model.lora: {error}") from error


def is_adapted(model: nn.Module) -> bool:
    """Whether `model` is a peft wrapper."""
    from peft import PeftModel

    return isinstance(model, PeftModel)


def merged(model: PeftModel) -> nn.Module:
    """A copy of the plain `transformers` model with the LoRA updates folded into its weights."""
    return copy.deepcopy(model).merge_and_unload()


def parameter_counts(module: nn.Module) -> dict[str, int]:
    """Trainable and total parameters (each shared tensor once)."""
    parameters = list(module.parameters())
    return {
        "trainable": sum(p.numel() for p in parameters if p.requires_grad),
        "total": sum(p.numel() for p in parameters),
    }
