"""Generation options shared by the generating predictors (seq2seq, language models), from predict.py's config."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from nlpzoo.errors import ConfigError
from nlpzoo.models.base import ZooModule
from nlpzoo.models.pretrained import PretrainedFamily
from nlpzoo.prediction.base import Example, Predictor

# Keys a Hugging Face `GenerationConfig` takes from these options; the others are nlpzoo's own.
HF_KEYS = ("max_new_tokens", "num_beams", "length_penalty", "do_sample", "temperature", "top_k", "top_p")


@dataclass
class GenerationOptions:
    """How to generate; None keeps the checkpoint's own setting (its beam size, `model.generation`, ...).

    `seed` makes sampling repeatable: one `predict` call with the same inputs and seed gives the same
    text. `use_cache` is the from-scratch GPT's key/value cache (False recomputes the prefix each token).
    `chat` (pretrained decoders): each prompt becomes a user turn of the tokenizer's chat template, so an
    instruct model answers it; None keeps the model's own `chat` setting.
    """

    max_new_tokens: int | None = None
    num_beams: int | None = None
    length_penalty: float | None = None
    do_sample: bool | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = 0
    use_cache: bool | None = None
    chat: bool | None = None

    def __post_init__(self) -> None:
        checks = {
            "max_new_tokens": (self.max_new_tokens, 1),
            "num_beams": (self.num_beams, 1),
            "top_k": (self.top_k, 0),
            "temperature": (self.temperature, 0),
        }
        for name, (value, low) in checks.items():
            if value is not None and value < low:
                raise ConfigError(f"generation.{name}={value} must be at least {low}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ConfigError(f"generation.top_p={self.top_p} must lie in (0, 1]")

    @classmethod
    def from_config(cls, values: dict[str, Any] | None) -> GenerationOptions:
        """From predict.py's `generation` node; an unknown key is an error naming the valid ones."""
        values = dict(values or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ConfigError(f"generation: unknown key(s) {unknown}; valid: {valid}")
        return cls(**values)

    def given(self) -> dict[str, Any]:
        """The options set (not None), seed aside: it applies to every family."""
        return {k: v for k, v in asdict(self).items() if v is not None and k != "seed"}

    def hf_overrides(self) -> dict[str, Any]:
        """The options as `transformers` generation keys, for the pretrained families' `generate`."""
        return {k: v for k, v in self.given().items() if k in HF_KEYS}

    def require_only(self, allowed: Iterable[str], family: str) -> None:
        """Refuse options this family's decoding has no use for, rather than silently ignore them."""
        extra = sorted(set(self.given()) - set(allowed))
        if extra:
            raise ConfigError(
                f"generation option(s) {extra} do not apply to the '{family}' family; it takes: {sorted(allowed)}"
            )


class GenerationPredictor(Predictor):
    """Base of the predictors that generate text: options, their checks, and a seeded random state."""

    def __init__(
        self,
        module: ZooModule,
        tokenizer: Any,
        text_fields: Sequence[str],
        generation: GenerationOptions | None = None,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(module, tokenizer, batch_size, device)
        self.text_fields = list(dict.fromkeys(text_fields))
        self.options = generation or GenerationOptions()
        allowed = HF_KEYS if isinstance(module, PretrainedFamily) else self.scratch_options(module)
        if hasattr(module, "chat_prompt_ids"):
            allowed = (*allowed, "chat")
        self.options.require_only(allowed, module.family)

    def scratch_options(self, module: ZooModule) -> tuple[str, ...]:
        """The options a from-scratch family's own decoding takes."""
        raise NotImplementedError

    def predict(self, texts: Example | Sequence[Example], progress: bool = False) -> list[dict[str, Any]]:
        """Generations for the examples, repeatable under `options.seed` (the global random state is left as it was)."""
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if self.options.seed is not None:
                torch.manual_seed(self.options.seed)
            return super().predict(texts, progress)
