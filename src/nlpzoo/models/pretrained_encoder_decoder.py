"""T5 / BART / Marian encoder-decoders: translation and summarization with `generate()`, T5 task
prefixes, and text-to-text classification (each label's name scored as a target sequence)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForSeq2SeqLM, PreTrainedTokenizerBase

from nlpzoo.errors import ConfigError
from nlpzoo.models.hf_backbone import load_model
from nlpzoo.models.pretrained import PretrainedFamily
from nlpzoo.models.pretrained_decoder import generation_config
from nlpzoo.tasks import IGNORE_INDEX, Batch, Outputs, TaskKind, TaskSpec

SEQ2SEQ_INPUTS = ("input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask", "labels")


class PretrainedEncoderDecoder(PretrainedFamily):
    """Any `AutoModelForSeq2SeqLM` by hub name or path, or built from a config alone.

    `task_prefix` (e.g. "translate German to English: ") is tokenized and put before every source,
    as T5 was trained. Classification tasks become text-to-text: the logit of a label is the
    log-likelihood of its name as the output sequence, so the model never needs a new head.
    """

    family = "encoder_decoder"
    prefix_ids: torch.Tensor  # buffers (register_buffer), declared for the type checker
    label_target_ids: torch.Tensor
    supported_tasks = (TaskKind.SEQ2SEQ, TaskKind.TEXT_CLASSIFICATION, TaskKind.NLI)

    def __init__(
        self,
        spec: TaskSpec | dict[str, Any],
        generation: dict[str, Any] | None = None,
        task_prefix: str | None = None,
        **common: Any,
    ) -> None:
        super().__init__(spec, **common)
        target_vocab = self.spec.target_vocab_size
        if self.from_weights and target_vocab not in (None, self.spec.vocab_size):
            raise ConfigError(
                "a pretrained encoder-decoder shares one vocabulary between source and target: "
                "use the same pretrained tokenizer for both sides"
            )
        options = self.options
        self.model = load_model(
            AutoModelForSeq2SeqLM,
            self.hf_config,
            options["pretrained"],
            self.from_weights,
            options["trust_remote_code"],
        )
        self.generation_options = dict(generation or {})
        self.generation = generation_config(self.generation_options, self.model.config)  # checked now
        self.task_prefix = task_prefix
        self.register_buffer("prefix_ids", torch.zeros(0, dtype=torch.long), persistent=False)
        self.register_buffer("label_target_ids", torch.zeros(0, 0, dtype=torch.long), persistent=False)
        self.finish_setup("encoder", generation=generation, task_prefix=task_prefix)

    def vocabulary_overrides(self) -> dict[str, Any]:
        spec = self.spec
        start = spec.bos_token_id if spec.bos_token_id is not None else spec.pad_token_id
        return {
            **super().vocabulary_overrides(),
            "vocab_size": max(spec.vocab_size, spec.target_vocab_size or 0),
            "decoder_start_token_id": start,
        }

    def use_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Tokenize the task prefix and, for classification, every label name as a target sequence."""
        super().use_tokenizer(tokenizer)
        device = self.prefix_ids.device
        if self.task_prefix:
            ids = tokenizer(self.task_prefix, add_special_tokens=False)["input_ids"]
            self.prefix_ids = torch.tensor(ids, dtype=torch.long, device=device)
        if self.spec.kind != TaskKind.SEQ2SEQ:
            # Label names with the tokenizer's end-of-sequence marking, as the target side is encoded.
            targets = [tokenizer(name)["input_ids"] for name in self.spec.label_names]
            same = [n for n, t in zip(self.spec.label_names, targets, strict=True) if targets.count(t) > 1]
            if same:
                raise ConfigError(
                    f"labels {same} tokenize to the same target sequence: rename them (data.label_names) or use a "
                    f"tokenizer that spells any word (tokenizer=bpe, tokenizer=char or a pretrained one)"
                )
            width = max(len(t) for t in targets)
            padded = [t + [IGNORE_INDEX] * (width - len(t)) for t in targets]
            self.label_target_ids = torch.tensor(padded, dtype=torch.long, device=device)  # (C, L)

    def with_prefix(self, batch: Batch) -> Batch:
        """The batch with the task prefix tokens before every source sequence."""
        if self.prefix_ids.numel() == 0:
            return batch
        size = batch["input_ids"].shape[0]
        prefix = self.prefix_ids.unsqueeze(0).expand(size, -1)  # (B, P)
        return {
            **batch,
            "input_ids": torch.cat([prefix, batch["input_ids"]], dim=1),
            "attention_mask": torch.cat([torch.ones_like(prefix), batch["attention_mask"]], dim=1),
        }

    def forward(self, batch: Batch) -> Outputs:
        batch = self.with_prefix(batch)
        if self.spec.kind != TaskKind.SEQ2SEQ:
            return {"logits": self.label_log_likelihoods(batch)}  # (B, C)
        outputs = self.model(**self.model_inputs(batch, SEQ2SEQ_INPUTS))
        result: Outputs = {"logits": outputs.logits}  # (B, S, V)
        if outputs.loss is not None:
            result["loss"] = outputs.loss
        if not self.training:
            result["generated_ids"] = self.generate_from(batch)  # (B, S')
        return result

    def label_log_likelihoods(self, batch: Batch) -> torch.Tensor:
        """(batch, num_labels): log P(label name | text), the encoder run once for all labels."""
        if self.label_target_ids.numel() == 0:
            raise ConfigError(
                "text-to-text classification needs the tokenizer: call use_tokenizer(tokenizer)"
            )
        encoder_outputs = self.model.get_encoder()(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        )
        size = batch["input_ids"].shape[0]
        scores = []
        for target in self.label_target_ids:  # (L,)
            labels = target.unsqueeze(0).expand(size, -1).contiguous()  # (B, L)
            logits = self.model(
                encoder_outputs=encoder_outputs,
                attention_mask=batch["attention_mask"],
                decoder_input_ids=self.model.prepare_decoder_input_ids_from_labels(labels=labels),
            ).logits  # (B, L, V)
            token_scores = (
                logits.float().log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            )
            scores.append((token_scores * (labels != IGNORE_INDEX)).sum(-1))  # (B,)
        return torch.stack(scores, dim=-1)

    def beam_search(self, batch: Batch, beam_size: int) -> torch.Tensor:
        return self.generate_from(self.with_prefix(batch), num_beams=beam_size)

    def generate_from(self, batch: Batch, **overrides: Any) -> torch.Tensor:
        config = generation_config({**self.generation_options, **overrides}, self.model.config)
        with torch.no_grad():
            return self.model.generate(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], generation_config=config
            )

    def generate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **overrides: Any
    ) -> torch.Tensor:
        """Translate or summarize: (batch, source) -> (batch, generated) token ids, with the task prefix.

        Overrides of `model.generation` (num_beams, length_penalty, max_new_tokens, do_sample, ...) apply to this call.
        """
        batch = self.with_prefix({"input_ids": input_ids, "attention_mask": attention_mask})
        return self.generate_from(batch, **overrides)
