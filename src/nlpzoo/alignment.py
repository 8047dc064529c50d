"""Preference pairs from a reward model, and how far a tuned policy moved (TRL's sentiment example with DPO).

A policy continues prompts by pure sampling; a classifier scores each continuation; per prompt the
best and the worst continuation become a (chosen, rejected) pair for `data=preference`. After DPO,
fresh samples show whether the reward rose and how far the policy went from its reference:
KL(pi || ref) estimated on samples of pi as the mean of log pi(y|x) - log ref(y|x).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from nlpzoo.models.hf_backbone import left_pad
from nlpzoo.tasks import IGNORE_INDEX


@dataclass
class Samples:
    """Continuations of prompts, `per_prompt` in a row for each prompt (prompt-major order)."""

    prompts: list[str]
    per_prompt: int
    prompt_ids: list[list[int]]  # one per prompt
    ids: list[list[int]]  # one per continuation, cut after its first end-of-sequence token
    texts: list[str]  # the continuations decoded, special tokens dropped

    def scored_texts(self) -> list[str]:
        """Each continuation after its prompt: what a reward model reads."""
        return [f"{self.prompts[i // self.per_prompt]} {text.lstrip()}" for i, text in enumerate(self.texts)]


@torch.no_grad()
def sample_continuations(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    per_prompt: int,
    max_new_tokens: int,
    seed: int,
    batch_size: int = 64,
) -> Samples:
    """`per_prompt` continuations of each prompt sampled from the model's own distribution (temperature 1,
    no top-k/top-p cut, as TRL's sentiment example), so that the KL estimate below is unbiased."""
    torch.manual_seed(seed)
    prompt_ids = tokenizer(list(prompts))["input_ids"]
    rows = [ids for ids in prompt_ids for _ in range(per_prompt)]
    pad, eos = tokenizer.pad_token_id or 0, tokenizer.eos_token_id
    continuations: list[list[int]] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(map(len, chunk))
        ids = torch.tensor([row + [pad] * (width - len(row)) for row in chunk])
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in chunk])
        ids, mask = left_pad(ids, mask, pad)
        output = model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=True,
            top_k=0,
            top_p=1.0,
            temperature=1.0,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad,
        )
        for new in output[:, width:].tolist():
            cut = new.index(eos) + 1 if eos in new else len(new)
            continuations.append(new[:cut])
    texts = tokenizer.batch_decode(continuations, skip_special_tokens=True)
    return Samples(list(prompts), per_prompt, prompt_ids, continuations, texts)


def positive_probabilities(predictor: Any, texts: Sequence[str], positive: str = "positive") -> list[float]:
    """P(positive) of each text under a sentiment classifier's predictor (`nlpzoo.load(checkpoint)`)."""
    predictions = predictor.predict(list(texts))
    return [p["score"] if p["label"] == positive else 1.0 - p["score"] for p in predictions]


def preference_pairs(samples: Samples, scores: Sequence[float]) -> list[dict[str, str]]:
    """Per prompt, its highest-scored continuation as `chosen` and its lowest as `rejected`; empty
    continuations (an immediate end of sequence) are left out, as are prompts whose continuations all
    score the same (they teach nothing)."""
    pairs = []
    k = samples.per_prompt
    for p, prompt in enumerate(samples.prompts):
        indices = [i for i in range(p * k, (p + 1) * k) if samples.texts[i].strip()]
        if not indices:
            continue
        best, worst = max(indices, key=scores.__getitem__), min(indices, key=scores.__getitem__)
        if scores[best] > scores[worst]:
            pairs.append({"prompt": prompt, "chosen": samples.texts[best], "rejected": samples.texts[worst]})
    return pairs


@torch.no_grad()
def kl_to_reference(module: Any, samples: Samples, batch_size: int = 32) -> float:
    """Mean over samples of log pi(y|x) - log ref(y|x) (nats per continuation): KL(pi || ref) when the
    samples come from pi. `module`: a `PretrainedDecoder` with LoRA (its reference: the adapter disabled)."""
    was_training = module.training
    module.eval()
    rows = [
        (samples.prompt_ids[i // samples.per_prompt], ids) for i, ids in enumerate(samples.ids) if ids
    ]  # an empty continuation has nothing to score
    differences = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(prompt) + len(new) for prompt, new in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        labels = torch.full_like(ids, IGNORE_INDEX)
        mask = torch.zeros_like(ids)
        for row, (prompt, new) in enumerate(chunk):
            ids[row, : len(prompt) + len(new)] = torch.tensor(prompt + new)
            labels[row, len(prompt) : len(prompt) + len(new)] = torch.tensor(new)
            mask[row, : len(prompt) + len(new)] = 1
        device = next(module.parameters()).device
        policy, reference = module.policy_and_reference_log_probs(
            ids.to(device), mask.to(device), labels.to(device)
        )
        differences.append(policy - reference)
    module.train(was_training)
    return float(torch.cat(differences).mean()) if differences else 0.0
