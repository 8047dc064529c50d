"""`PretrainedFamily`: what the Hugging Face families share — loading, freezing, schedules, export.

Subclasses (encoder, decoder, encoder-decoder) build the `transformers` model their task needs
in `self.model`; this class loads or sizes it, applies the training options users expect
(layer-wise LR decay, freezing, gradient checkpointing, torch.compile, LoRA adapters) and writes
it back out with `save_pretrained`, so `transformers` loads the fine-tuned model without nlpzoo.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Literal, cast

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from transformers import PretrainedConfig, PreTrainedTokenizerBase

from nlpzoo.errors import CheckpointError, ConfigError
from nlpzoo.models.adapters import add_lora, is_adapted, lora_options, merged
from nlpzoo.models.base import ZooModule
from nlpzoo.models.hf_backbone import (
    build_config,
    check_tokenizer_config,
    check_tokenizer_matches,
    freeze,
    fresh_config,
    layerwise_lr_scale,
    num_layers_of,
)
from nlpzoo.tasks import TaskSpec

log = logging.getLogger(__name__)

TRAINED_TOKENIZER = {"_target_": "nlpzoo.tokenizers.WordTokenizer"}  # tokenizer=word, train.yaml's default


def brought_tokenizer(cfg: DictConfig) -> bool:
    """Whether the run's tokenizer is the one a pretrained preset brings (named after model.pretrained),
    not one the user chose (`tokenizer=bpe`, `tokenizer.name_or_path=...`)."""
    tokenizer = cfg.get("tokenizer")
    if not tokenizer or not str(tokenizer.get("_target_", "")).endswith("PretrainedTokenizer"):
        return False
    if "name_or_path" not in tokenizer or not OmegaConf.is_interpolation(tokenizer, "name_or_path"):
        return False
    return "model.pretrained" in str(tokenizer._get_node("name_or_path")._value())


class PretrainedFamily(ZooModule):
    """Base of the `transformers`-backed families; `self.model` is the Hugging Face model."""

    family = "pretrained"
    encodes_pairs_apart = False  # True where pair_encoding=bi (each text encoded alone) is served

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        pretrained: str | None = None,
        from_config: bool = False,
        model_type: str | None = None,
        config_overrides: dict[str, Any] | None = None,
        trust_remote_code: bool = False,
        freeze_backbone: bool = False,
        freeze_layers: int = 0,
        layer_lr_decay: float = 1.0,
        gradient_checkpointing: bool = False,
        compile: bool = False,
        peft: Literal["lora"] | None = None,
        lora: dict[str, Any] | None = None,
        backbone_config: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        **zoo_options: Any,
    ) -> None:
        super().__init__(spec, optimizer, scheduler, **zoo_options)
        self.check_options(self.spec.pair_encoding, layer_lr_decay, freeze_layers)
        self.options: dict[str, Any] = {  # the family's arguments, of mixed types
            "pretrained": pretrained,
            "from_config": from_config,
            "model_type": model_type,
            "config_overrides": dict(config_overrides or {}),
            "trust_remote_code": trust_remote_code,
            "freeze_backbone": freeze_backbone,
            "freeze_layers": freeze_layers,
            "layer_lr_decay": layer_lr_decay,
            "gradient_checkpointing": gradient_checkpointing,
            "compile": compile,
            "peft": peft,
            "lora": lora_options(peft, lora),
        }
        # Pretrained weights are loaded only on first construction; a reloaded checkpoint rebuilds
        # from its saved config and then receives its fine-tuned weights. An adapted model's
        # checkpoint holds only what trained, so its frozen base is loaded again by name.
        self.base_by_name = bool(pretrained) and not from_config and peft is not None
        self.from_weights = (
            bool(pretrained) and not from_config and (backbone_config is None or self.base_by_name)
        )
        if self.from_weights:
            check_tokenizer_matches(self.spec, str(pretrained), trust_remote_code)
        overrides = dict(config_overrides or {})
        if not self.from_weights and backbone_config is None:
            overrides = {**self.vocabulary_overrides(), **overrides}
        self.hf_config: PretrainedConfig = build_config(
            pretrained, model_type, overrides, trust_remote_code, backbone_config, from_config
        )
        self.tokenizer: Any = None
        self.model: Any = None

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Before data is read: the options below, and a pretrained vocabulary needs the pretrained
        tokenizer of the same name."""
        model = cfg.model
        cls.check_options(
            cfg.data.get("pair_encoding"), model.get("layer_lr_decay", 1.0), model.get("freeze_layers", 0)
        )
        if model.get("from_config") and brought_tokenizer(cfg):
            # The family brought its weights' tokenizer; without the weights it has no reason to (and
            # from_config never reaches the hub), so it trains one on the data as from-scratch families do.
            with open_dict(cfg):
                cfg.tokenizer = OmegaConf.create(TRAINED_TOKENIZER)
            log.info(
                "model.from_config=true: a randomly initialised model trains its vocabulary on the data: tokenizer=word"
            )
        check_tokenizer_config(model, cfg.get("tokenizer"))
        if model.get("from_config") or not model.get("pretrained"):
            overrides = model.get("config_overrides")
            fresh_config(
                model.get("model_type"),
                cast(dict[str, Any], OmegaConf.to_container(overrides)) if overrides else {},
            )

    @classmethod
    def check_options(cls, pair_encoding: str | None, layer_lr_decay: float, freeze_layers: int) -> None:
        """What the family's options allow, checked from the config (preflight) and at construction."""
        if pair_encoding == "bi" and not cls.encodes_pairs_apart:
            raise ConfigError(
                f"the {cls.family} family reads a text pair as one sequence: use data.pair_encoding=cross "
                f"(bi-encoders: model=bert and its presets, model=lstm, model=transformer_encoder)"
            )
        if not 0.0 < layer_lr_decay <= 1.0:
            raise ConfigError(f"model.layer_lr_decay={layer_lr_decay} must be in (0, 1] (1 = no decay)")
        if freeze_layers < 0:
            raise ConfigError(f"model.freeze_layers={freeze_layers} must be >= 0")

    def vocabulary_overrides(self) -> dict[str, Any]:
        """Config values a randomly initialised model takes from the data's tokenizer."""
        spec = self.spec
        values = {"vocab_size": spec.vocab_size, "pad_token_id": spec.pad_token_id}
        for key in ("bos_token_id", "eos_token_id"):
            if getattr(spec, key) is not None:
                values[key] = getattr(spec, key)
        return values

    def label_config(self) -> dict[str, Any]:
        """num_labels/id2label for classification heads, so exported configs name the labels."""
        names = self.spec.label_names
        return {
            "num_labels": max(len(names), 1),
            "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)},
        }

    def finish_setup(self, backbone_prefix: str | None, **family_hparams: Any) -> None:
        """After the subclass built `self.model`: vocabulary, freezing, checkpointing, compile, hparams."""
        self.model.train()  # from_pretrained returns eval mode; Lightning keeps each module's mode
        embeddings = self.model.get_input_embeddings()
        if embeddings is not None and embeddings.num_embeddings < self.spec.vocab_size:
            self.model.resize_token_embeddings(self.spec.vocab_size)  # a tokenizer with added tokens
        options = self.options
        frozen = freeze(self.model, backbone_prefix, options["freeze_backbone"], options["freeze_layers"])
        if frozen:
            trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
            if trainable == 0:
                raise ConfigError(
                    "freezing left no trainable parameter: this head has no parameters of its own"
                )
            log.info("froze %d parameters; %d remain trainable", frozen, trainable)
        if options["gradient_checkpointing"]:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.save_family_hyperparameters(
            **{k: v for k, v in options.items()},
            backbone_config=self.model.config.to_dict(),
            **family_hparams,
        )
        if options["lora"] is not None:
            self.model = add_lora(self.model, options["lora"])
            if options["gradient_checkpointing"]:
                self.model.enable_input_require_grads()  # checkpointed blocks need an input that requires grad
        if options["compile"]:
            self.model.compile()  # in place: parameter names (and checkpoints) stay the same

    def use_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Keep the tokenizer for export, label verbalizers and prompts (and give it to the objective)."""
        parent = getattr(super(), "use_tokenizer", None)
        if parent is not None:
            parent(tokenizer)
        self.tokenizer = tokenizer

    @staticmethod
    def model_inputs(batch: dict[str, Any], keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The batch entries a Hugging Face model takes (QA offsets and example ids stay out)."""
        return {k: batch[k] for k in keys if isinstance(batch.get(k), torch.Tensor)}

    def without_adapter(self) -> AbstractContextManager[Any]:
        """The base model inside the block, its LoRA updates switched off (peft's `disable_adapter`)."""
        return self.model.disable_adapter() if is_adapted(self.model) else nullcontext()

    # --- optimization ------------------------------------------------------------------------------
    def lr_scale(self) -> Callable[[str], float] | None:
        decay = self.options["layer_lr_decay"]
        return layerwise_lr_scale(decay, num_layers_of(self.model.config)) if decay < 1.0 else None

    # --- adapter checkpoints -----------------------------------------------------------------------
    def frozen_base_keys(self) -> set[str]:
        """State-dict keys a checkpoint leaves out: the frozen base of an adapted model loaded by name."""
        if not self.base_by_name:
            return set()
        return {name for name, p in self.named_parameters(remove_duplicate=False) if not p.requires_grad}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        frozen = self.frozen_base_keys()
        if frozen:
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k not in frozen}

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """An adapter checkpoint lacks the frozen base weights (they came from `pretrained`); nothing else may be missing."""
        frozen = self.frozen_base_keys()
        if not frozen:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if k not in frozen]
        if strict and (missing or result.unexpected_keys):
            raise RuntimeError(
                f"adapter checkpoint does not fit: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}"
            )
        return result

    # --- export ------------------------------------------------------------------------------------
    def save_pretrained(
        self, folder: str | Path, tokenizer: PreTrainedTokenizerBase | None = None, merge: bool = True
    ) -> Path:
        """Write the fine-tuned model (and tokenizer) so `AutoModelFor...from_pretrained(folder)` loads it.

        An adapted model is written merged into its base (plain `transformers`), or with `merge=False`
        as the adapter alone (`peft.PeftModel.from_pretrained(base, folder)` loads it).
        """
        tokenizer = tokenizer if tokenizer is not None else self.tokenizer
        folder = Path(folder)
        model = getattr(self.model, "_orig_mod", self.model)
        if is_adapted(model) and merge:
            model = merged(model)
        model.save_pretrained(folder)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
        else:
            log.warning("no tokenizer attached: %s holds the model only", folder)
        return folder


def export_checkpoint(
    checkpoint_path: str | Path, folder: str | Path, adapter: Literal["merged", "alone"] = "merged"
) -> Path:
    """An nlpzoo checkpoint of a pretrained family -> a `transformers` folder (model + tokenizer);
    a LoRA model's adapter merged into the base weights, or (`adapter="alone"`) as a peft adapter folder."""
    from nlpzoo.checkpoint import load_module

    loaded = load_module(checkpoint_path)
    if not isinstance(loaded.module, PretrainedFamily):
        raise CheckpointError(
            f"{checkpoint_path} holds a '{loaded.module.family}' model; only the pretrained families "
            "(bert, gpt2, t5, ...) export to the transformers format"
        )
    if adapter not in ("merged", "alone"):
        raise ConfigError(f"adapter='{adapter}' is not one of: merged, alone")
    return loaded.module.save_pretrained(folder, loaded.tokenizer, merge=adapter == "merged")
