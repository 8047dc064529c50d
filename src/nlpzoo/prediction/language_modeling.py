"""Language-model predictions: a prompt in, its sampled (or greedy) continuation out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from nlpzoo.data.collate import PaddingCollator
from nlpzoo.errors import DataError
from nlpzoo.models.base import ZooModule
from nlpzoo.models.gpt import GPTModel
from nlpzoo.models.pretrained import PretrainedFamily
from nlpzoo.models.pretrained_decoder import GENERATION_DEFAULTS
from nlpzoo.prediction.base import Example, field_of
from nlpzoo.prediction.generation import GenerationPredictor
from nlpzoo.tasks import TaskKind


class LanguageModelPredictor(GenerationPredictor):
    """`predict(["ROMEO:"])` -> [{"generated": " the continuation"}]: GPT and recurrent LMs sample with
    temperature / top-k / top-p (do_sample=false: greedy); pretrained decoders use `generate()`."""

    kinds = (TaskKind.LANGUAGE_MODELING, TaskKind.PREFERENCE)  # a DPO-tuned policy continues prompts too

    def scratch_options(self, module: ZooModule) -> tuple[str, ...]:
        allowed = ("max_new_tokens", "do_sample", "temperature", "top_k", "top_p")
        return (*allowed, "use_cache") if isinstance(module, GPTModel) else allowed

    def prompt_ids(self, examples: Sequence[Example]) -> list[list[int]]:
        """Prompt token ids as the LM DataModule encodes lines (no special tokens), or as chat turns."""
        prompts = [field_of(e, self.text_fields, "prompt") for e in examples]
        chat = self.options.chat if self.options.chat is not None else getattr(self.module, "chat", False)
        if chat:
            return self.module.chat_prompt_ids(prompts, self.tokenizer)
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        empty = [p for p, row in zip(prompts, ids, strict=True) if not row]
        if empty:
            raise DataError(
                f"prompt(s) {empty[:3]} encode to no token: a language model needs at least one to continue"
            )
        return ids

    def continuations(self, prompts: list[list[int]]) -> list[list[int]]:
        """The new token ids of each prompt, by the family's own decoding."""
        module, options = self.module, self.options
        if isinstance(module, PretrainedFamily):  # pads (left) and masks by itself
            batch = PaddingCollator({"input_ids": self.tokenizer.pad_token_id or 0})(
                [{"input_ids": p, "attention_mask": [1] * len(p)} for p in prompts]
            )
            batch = self.to_device(batch)
            return module.generate(
                batch["input_ids"], batch["attention_mask"], **options.hf_overrides()
            ).tolist()
        sampling = options.do_sample is not False
        settings: dict[str, Any] = {
            "max_new_tokens": options.max_new_tokens or GENERATION_DEFAULTS["max_new_tokens"],
            "temperature": (1.0 if options.temperature is None else options.temperature) if sampling else 0.0,
            "top_k": options.top_k,
            "top_p": options.top_p,
        }
        if options.use_cache is not None:
            settings["use_cache"] = options.use_cache
        # No padding in these families' decoding: prompts of one length are continued together.
        new: list[list[int]] = [[] for _ in prompts]
        by_length: dict[int, list[int]] = {}
        for index, prompt in enumerate(prompts):
            by_length.setdefault(len(prompt), []).append(index)
        for length, rows in by_length.items():
            ids = torch.tensor([prompts[i] for i in rows], device=self.device)  # (n, length)
            generated = module.generate(ids, **settings)[:, length:]  # (n, new)
            for i, row in zip(rows, generated.tolist(), strict=True):
                new[i] = row
        return new

    def predict_batch(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        eos = self.module.spec.eos_token_id
        texts = []
        for ids in self.continuations(self.prompt_ids(examples)):
            texts.append(
                ids[: ids.index(eos)] if eos is not None and eos in ids else ids
            )  # stop at end-of-text
        return [{"generated": text} for text in self.tokenizer.batch_decode(texts, skip_special_tokens=True)]
