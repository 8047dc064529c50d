"""GPT-style pretrained decoders (GPT-2, Llama, SmolLM2 and friends): causal LM fine-tuning,
generation (chat-templated prompts for instruct models), instruction tuning on seq2seq pairs served
as prompt/response sequences, preference alignment (DPO, with the LoRA base as the frozen reference),
and sequence classification from the last real token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    GenerationConfig,
    PreTrainedTokenizerBase,
)

from nlpzoo.errors import ConfigError
from nlpzoo.models.base import configured_task, fit_to_task
from nlpzoo.models.hf_backbone import left_pad, load_model
from nlpzoo.models.pretrained import PretrainedFamily
from nlpzoo.models.prompting import LabelScorer
from nlpzoo.tasks import IGNORE_INDEX, Batch, Outputs, TaskKind, TaskSpec
from nlpzoo.tasks.preference import sequence_log_probs
from nlpzoo.tokenizers.base import user_turn

DECODER_INPUTS = ("input_ids", "attention_mask")
HEAD_CLASSES = {
    TaskKind.LANGUAGE_MODELING: AutoModelForCausalLM,
    TaskKind.SEQ2SEQ: AutoModelForCausalLM,  # prompt/response sequences (data.prompt)
    TaskKind.TEXT_CLASSIFICATION: AutoModelForSequenceClassification,
    TaskKind.NLI: AutoModelForSequenceClassification,
    TaskKind.PREFERENCE: AutoModelForCausalLM,
}
# The tasks of the causal-LM head: plain text, prompt/response sequences, preference pairs.
CAUSAL_LM_TASKS = (TaskKind.LANGUAGE_MODELING, TaskKind.SEQ2SEQ, TaskKind.PREFERENCE)
NEEDS_LORA = (
    "the preference task (DPO) takes its frozen reference model from the LoRA base with the adapter "
    "disabled: add model.peft=lora"
)
GENERATION_DEFAULTS = {"max_new_tokens": 32, "num_beams": 1, "do_sample": False}


def generation_config(options: dict[str, Any] | None, model_config: Any) -> GenerationConfig:
    """Greedy, beam (`num_beams`, `length_penalty`) or sampling (`do_sample`, `temperature`, `top_k`,
    `top_p`) settings over the model's own defaults; a misspelt key is an error, not ignored."""
    values = {**GENERATION_DEFAULTS, **(options or {})}
    config = GenerationConfig.from_model_config(model_config)
    unknown = config.update(**values)
    if unknown:
        raise ConfigError(
            f"model.generation has unknown key(s) {sorted(unknown)}; see transformers.GenerationConfig"
        )
    try:
        config.validate(strict=True)
    except ValueError as error:
        raise ConfigError(f"model.generation: {error}") from error
    return config


class PretrainedDecoder(PretrainedFamily):
    """Any `AutoModelForCausalLM` decoder by hub name or path, or built from a config alone.

    `chat`: an instruct model; prompts given to `chat_prompt_ids` (predict.py, serve.py) become a user
    turn of the tokenizer's chat template followed by the assistant's, so the model answers them.
    `zero_shot_prompt` (text classification): no classification head; the causal LM scores each
    label's words (`label_words`, default the label names) after the prompt (`models.prompting`).
    Seq2seq data comes as prompt/response sequences (`data.prompt`): the causal LM's loss reads the
    response tokens (labels IGNORE_INDEX elsewhere), and evaluation generates from the prompt alone.
    Preference pairs (DPO) need `peft=lora`: the policy is the adapted model, the reference the same
    model with its adapter disabled, so no second copy of the weights is held.
    """

    family = "decoder"
    supported_tasks = tuple(HEAD_CLASSES)
    decoder_only = True
    packs_sequences = True

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        generation: dict[str, Any] | None = None,
        chat: bool = False,
        zero_shot_prompt: str | None = None,
        label_words: list[str] | None = None,
        label_score: Literal["sum", "mean"] = "mean",
        **common: Any,
    ) -> None:
        super().__init__(spec, **common)
        if self.spec.kind == TaskKind.PREFERENCE and self.options["peft"] is None:
            raise ConfigError(NEEDS_LORA)
        config = self.hf_config
        self.scorer: LabelScorer | None = None
        if zero_shot_prompt is not None:
            if self.spec.kind != TaskKind.TEXT_CLASSIFICATION:
                raise ConfigError(
                    "model.zero_shot_prompt classifies texts: it needs text classification data"
                )
            self.scorer = LabelScorer(zero_shot_prompt, self.spec.label_names, label_words, label_score, chat)
        elif self.spec.kind not in CAUSAL_LM_TASKS:
            # GPT-2 classifies from the last token that is not padding, found through pad_token_id.
            config.update({**self.label_config(), "pad_token_id": self.spec.pad_token_id})
        options = self.options
        self.model = load_model(
            AutoModelForCausalLM if self.scorer else HEAD_CLASSES[self.spec.kind],
            config,
            options["pretrained"],
            self.from_weights,
            options["trust_remote_code"],
        )
        self.generation_options = dict(generation or {})
        self.generation = generation_config(self.generation_options, self.model.config)  # checked now
        self.chat = chat
        self.finish_setup(
            self.model.base_model_prefix,
            generation=generation,
            chat=chat,
            zero_shot_prompt=zero_shot_prompt,
            label_words=label_words,
            label_score=label_score,
        )

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Seq2seq prompts (`data.prompt`) are chat turns exactly when the model chats (`model.chat`);
        preference pairs need LoRA (the reference is the base with the adapter off)."""
        super().check_config(cfg)
        chat = bool(cfg.model.get("chat", False))
        data = cfg.get("data") or {}  # predict.py model=NAME may name no data
        given_data = "_target_" in data
        prompted = data.get("prompt") is not None and configured_task(cfg) == TaskKind.SEQ2SEQ
        if prompted and bool(data.get("chat", False)) != chat:
            fit_to_task(cfg.data, "chat", chat, f"model.chat={str(chat).lower()}: the prompts follow it")
        if given_data and configured_task(cfg) == TaskKind.PREFERENCE and not cfg.model.get("peft"):
            raise ConfigError(NEEDS_LORA)

    def chat_prompt_ids(self, prompts: list[str], tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
        """Each prompt as one user turn of the tokenizer's chat template, ready for the assistant's answer."""
        turns = [user_turn(tokenizer, p) for p in prompts]
        return tokenizer(turns, add_special_tokens=False)[
            "input_ids"
        ]  # the template holds the special tokens

    def forward(self, batch: Batch) -> Outputs:
        if self.scorer is not None:  # (B, C): each label's log-likelihood after the prompt
            mask = batch["attention_mask"]
            return {"logits": self.scorer(self.model, self.tokenizer, batch["input_ids"], mask)}
        if self.spec.kind == TaskKind.PREFERENCE:
            return self.preference_log_probs(batch)
        if self.spec.kind == TaskKind.SEQ2SEQ:
            return self.prompt_response(batch)
        if "position_ids" in batch:
            # Packed blocks (transformers' padding-free path): with no 2-D mask and no cache, the mask builder
            # reads each restart of position_ids as a new sequence and masks block-diagonally (eager, sdpa, flash).
            inputs = self.model_inputs(batch, ("input_ids", "position_ids"))
            return {"logits": self.model(**inputs, use_cache=False).logits}  # (B, T, V)
        return {
            "logits": self.model(**self.model_inputs(batch, DECODER_INPUTS)).logits
        }  # (B, T, V) or (B, C)

    def preference_log_probs(self, batch: Batch) -> Outputs:
        """The chosen and rejected responses' log-probabilities (B,) under the policy and the reference,
        both responses of every pair in one (2B, T) pass each."""
        inputs = {
            key: torch.cat([batch[f"chosen_{key}"], batch[f"rejected_{key}"]])
            for key in ("input_ids", "attention_mask", "labels")
        }
        policy, reference = self.policy_and_reference_log_probs(**inputs)
        (chosen, rejected), (reference_chosen, reference_rejected) = policy.chunk(2), reference.chunk(2)
        return {
            "chosen_logps": chosen,
            "rejected_logps": rejected,
            "reference_chosen_logps": reference_chosen,
            "reference_rejected_logps": reference_rejected,
        }

    def policy_and_reference_log_probs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) right-padded rows -> (B,) log-probabilities of their scored labels under the policy (the
        adapted model) and the reference (the same model, adapter disabled, no gradient, no dropout)."""
        policy = sequence_log_probs(
            self.model(input_ids=input_ids, attention_mask=attention_mask).logits, labels
        )
        with torch.no_grad(), self.without_adapter(), evaluation_mode(self.model):
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return policy, sequence_log_probs(logits, labels)

    def prompt_response(self, batch: Batch) -> Outputs:
        """Teacher-forced prompt + response (B, T): next-token cross-entropy over the response tokens,
        their logits (N, V) the only ones computed (the vocabulary projection of every prompt token
        would cost a fifth of SmolLM2's step); out of training also `generated_ids` (B, new), generated
        from the prompt alone."""
        labels = batch["labels"]  # (B, T): IGNORE_INDEX but on the response
        predicts = torch.zeros_like(labels, dtype=torch.bool)
        predicts[:, :-1] = labels[:, 1:] != IGNORE_INDEX  # (B, T): positions whose next token is scored
        inputs = self.model_inputs(batch, DECODER_INPUTS)
        logits = self.model(**inputs, logits_to_keep=predicts).logits  # (N, V)
        loss = F.cross_entropy(logits.float(), labels[:, 1:][predicts[:, :-1]])
        result: Outputs = {"logits": logits, "loss": loss}
        if not self.training:
            prompt_mask = batch["attention_mask"] * (batch["labels"] == IGNORE_INDEX)  # (B, T): the prompts
            width = int(prompt_mask.sum(-1).max())
            result["generated_ids"] = self.generate(batch["input_ids"][:, :width], prompt_mask[:, :width])
        return result

    @torch.no_grad()
    def generate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **overrides: Any
    ) -> torch.Tensor:
        """Continue right-padded prompts (batch, prompt) -> new tokens only (batch, new), padded."""
        if self.spec.kind not in CAUSAL_LM_TASKS:
            raise ConfigError(
                "generation needs the causal-LM head (task language_modeling, seq2seq or preference)"
            )
        config = generation_config({**self.generation_options, **overrides}, self.model.config)
        pad = self.spec.pad_token_id
        ids, mask = left_pad(input_ids, attention_mask, pad)
        output = self.model.generate(
            input_ids=ids, attention_mask=mask, generation_config=config, pad_token_id=pad
        )
        return output[:, ids.shape[1] :]


@contextmanager
def evaluation_mode(model: torch.nn.Module) -> Iterator[None]:
    """`model` in eval mode (dropout off) inside the block, then back in the mode it was in."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)
