"""Zero-shot classification by prompting a causal LM (Brown et al. 2020; lm-evaluation-harness's
multiple choice): each label's words are scored as the continuation of a prompt around the text, and
the label log-likelihoods are the class logits, so the classification objective and metrics apply."""

from __future__ import annotations

from typing import Any, Literal

import torch

from nlpzoo.errors import ConfigError
from nlpzoo.tokenizers.base import user_turn

TEXT_SLOT = "{text}"


class LabelScorer:
    """(batch, labels) log-likelihoods of `label_words[c]` after `prompt` with the batch's text in `{text}`.

    `chat`: the prompt is a user turn of the tokenizer's chat template and the label words begin the
    assistant's answer. Without chat the label words follow the prompt after a space (" positive"),
    unless `label_words` are given, which are used verbatim. `score`: `sum` or `mean` (per token)
    log-likelihood of the label's tokens.
    """

    def __init__(
        self,
        prompt: str,
        label_names: list[str],
        label_words: list[str] | None = None,
        score: Literal["sum", "mean"] = "mean",
        chat: bool = False,
    ) -> None:
        if TEXT_SLOT not in prompt:
            raise ConfigError(f"model.zero_shot_prompt={prompt!r} needs a '{TEXT_SLOT}' where the text goes")
        if score not in ("sum", "mean"):
            raise ConfigError(f"model.label_score={score!r}: choose sum or mean")
        if not label_names:
            raise ConfigError(
                "zero-shot prompting scores the data's labels: give their names (data.label_names=[...])"
            )
        words = list(label_words) if label_words else [n if chat else f" {n}" for n in label_names]
        if len(words) != len(label_names):
            raise ConfigError(
                f"model.label_words has {len(words)} entries for the data's {len(label_names)} labels {label_names}"
            )
        self.prompt, self.words, self.score, self.chat = prompt, words, score, chat

    def template(self, tokenizer: Any) -> str:
        """The prompt as the model reads it: as it is, or wrapped in the chat template as a user turn."""
        return user_turn(tokenizer, self.prompt) if self.chat else self.prompt

    def __call__(
        self, model: Any, tokenizer: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Right-padded texts (batch, seq) -> (batch, labels) label log-likelihoods."""
        template = self.template(tokenizer)
        texts = [
            tokenizer.decode(ids[mask.bool()], skip_special_tokens=True)
            for ids, mask in zip(input_ids, attention_mask, strict=True)
        ]
        contexts = tokenizer([template.replace(TEXT_SLOT, t) for t in texts], add_special_tokens=False)
        endings = tokenizer(self.words, add_special_tokens=False)["input_ids"]
        if not all(endings):
            raise ConfigError(f"a label word of {self.words} encodes to no token")
        rows = [context + ending for context in contexts["input_ids"] for ending in endings]
        return continuation_log_likelihood(
            model, rows, [len(e) for e in endings] * len(texts), tokenizer.pad_token_id or 0, self.score
        ).view(len(texts), len(endings))


def continuation_log_likelihood(
    model: Any, rows: list[list[int]], ending_lengths: list[int], pad_id: int, score: str
) -> torch.Tensor:
    """(rows,) log-likelihood of each row's last `ending_lengths[i]` tokens given the tokens before them.

    Rows are left-padded so every ending sits at the right edge: only the last logits are computed.
    """
    device = next(model.parameters()).device
    keep = max(ending_lengths) + 1
    width = max(keep, *map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: each row counts from its first token
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
    targets = ids[:, width - keep + 1 :]  # (rows, keep - 1): the tokens the kept logits predict
    log_probs = logits[:, :-1].float().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    lengths = torch.tensor(ending_lengths, device=device)
    in_ending = torch.arange(keep - 1, device=device) >= (keep - 1 - lengths).unsqueeze(
        -1
    )  # (rows, keep - 1)
    total = (log_probs * in_ending).sum(-1)
    return total / lengths if score == "mean" else total
