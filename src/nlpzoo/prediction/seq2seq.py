"""Seq2seq predictions (translation, summarization): a source text in, the family's own generation out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from nlpzoo.data.collate import PaddingCollator
from nlpzoo.data.instruction import prompt_ids
from nlpzoo.data.seq2seq import encode_sources
from nlpzoo.models.base import ZooModule
from nlpzoo.models.pretrained import PretrainedFamily
from nlpzoo.prediction.base import Example, field_of
from nlpzoo.prediction.generation import GenerationPredictor
from nlpzoo.tasks import Batch, TaskKind


class Seq2SeqPredictor(GenerationPredictor):
    """`predict(["ein Hund läuft ."])` -> [{"generated": "a dog runs ."}]: greedy or beam search for the
    seq2seq and Transformer families, `generate()` for T5/BART/Marian; decoded as evaluation decodes."""

    kinds = (TaskKind.SEQ2SEQ,)

    def scratch_options(self, module: ZooModule) -> tuple[str, ...]:
        return ("max_new_tokens", "num_beams", "length_penalty")

    def encode(self, examples: Sequence[Example]) -> Batch:
        """Source ids as the seq2seq DataModule encodes them (ending in end-of-sequence, truncated to max_length);
        for a decoder-only model (`spec.prompt`), the prompt around the source, as it was trained."""
        sources = [field_of(e, self.text_fields, "source text") for e in examples]
        spec = self.module.spec
        if spec.prompt is not None:
            ids = prompt_ids(
                self.tokenizer, sources, spec.prompt, getattr(self.module, "chat", False), spec.max_length
            )
            rows = [{"input_ids": i, "attention_mask": [1] * len(i)} for i in ids]
            return self.to_device(PaddingCollator({"input_ids": self.tokenizer.pad_token_id or 0})(rows))
        features = encode_sources(self.tokenizer, sources, spec.max_length)
        rows = [
            {"input_ids": i, "attention_mask": m}
            for i, m in zip(features["input_ids"], features["attention_mask"], strict=True)
        ]
        return self.to_device(PaddingCollator({"input_ids": self.tokenizer.pad_token_id or 0})(rows))

    def generate(self, batch: Batch) -> torch.Tensor:
        """(B, S) sources -> (B, L) generated target ids, by the family's own decoding."""
        module, options = self.module, self.options
        if isinstance(module, PretrainedFamily):
            return module.generate(batch["input_ids"], batch["attention_mask"], **options.hf_overrides())
        return module.generate(
            batch,
            beam_size=options.num_beams,
            max_length=options.max_new_tokens,
            length_penalty=options.length_penalty,
        )

    def predict_encoded(self, batch: Batch) -> list[dict[str, Any]]:
        return self.objective.predict({"generated_ids": self.generate(batch)}, batch)
