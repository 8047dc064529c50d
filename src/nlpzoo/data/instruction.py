"""Seq2seq rows as prompt/response pairs for a decoder-only model (instruction tuning, `data.prompt`).

The source goes into a prompt template at `{source}` (rendered as a user turn of the tokenizer's chat
template when `data.chat` is set, for instruct models); the target, then the end-of-sequence token, is
the response. One sequence holds both, and the labels are IGNORE_INDEX on the prompt (and, once
batched, on the padding), so the loss reads the response alone, as TRL's completion-only loss does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import IGNORE_INDEX
from nlpzoo.tokenizers.base import user_turn

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SOURCE_SLOT = "{source}"


def check_texts(rows: dict[str, list[Any]], columns: tuple[str, ...], where: str) -> None:
    """A missing source or target text is the data's error, named by its line."""
    for column in columns:
        for index, text in enumerate(rows[column]):
            if text is None:
                line = rows["line"][index] if "line" in rows else f"row {index}"
                raise DataError(f"{where}, line {line}: no {column} text")


def prompt_pieces(
    tokenizer: PreTrainedTokenizerBase, template: str, chat: bool
) -> tuple[list[int], list[int]]:
    """Token ids of the prompt before and after the source: the template as written, or (`chat`) the
    template as a user turn of the tokenizer's chat template, ending where the assistant's answer starts."""
    if template.count(SOURCE_SLOT) != 1:
        raise DataError(f"data.prompt={template!r} needs one '{SOURCE_SLOT}' where the source text goes")
    text = user_turn(tokenizer, template) if chat else template
    before, after = text.split(SOURCE_SLOT)
    # The template (or chat template) writes the special tokens it wants; nothing is added around them.
    return (
        tokenizer(before, add_special_tokens=False)["input_ids"] if before else [],
        tokenizer(after, add_special_tokens=False)["input_ids"] if after else [],
    )


def prompt_ids(
    tokenizer: PreTrainedTokenizerBase, sources: list[str], template: str, chat: bool, max_length: int
) -> list[list[int]]:
    """Each source in the prompt, cut so the prompt keeps `max_length` tokens with its template whole."""
    before, after = prompt_pieces(tokenizer, template, chat)
    room = max_length - len(before) - len(after)
    if room < 1:
        raise DataError(
            f"data.max_length={max_length} leaves no room for the source: the prompt template alone "
            f"takes {len(before) + len(after)} tokens"
        )
    cut = tokenizer(sources, add_special_tokens=False, truncation=True, max_length=room)["input_ids"]
    return [[*before, *ids, *after] for ids in cut]


def encode_prompt_response_batch(
    rows: dict[str, list[Any]],
    tokenizer: PreTrainedTokenizerBase,
    source_column: str,
    target_column: str,
    template: str,
    chat: bool,
    max_length: int,
    max_target_length: int,
    eos_id: int,
    where: str,
) -> dict[str, list[Any]]:
    """`input_ids` = prompt + target + [eos], `labels` = IGNORE_INDEX on the prompt, then the same
    target + [eos]; `target_text` is the reference as written. The prompt keeps `max_length` tokens
    (`prompt_ids`), the target `max_target_length` with its eos."""
    check_texts(rows, (source_column, target_column), where)
    prompts = prompt_ids(tokenizer, rows[source_column], template, chat, max_length)
    targets = tokenizer(
        rows[target_column], add_special_tokens=False, truncation=True, max_length=max_target_length - 1
    )
    responses = [[*ids, eos_id] for ids in targets["input_ids"]]
    input_ids = [prompt + response for prompt, response in zip(prompts, responses, strict=True)]
    return {
        "input_ids": input_ids,
        "attention_mask": [[1] * len(ids) for ids in input_ids],
        "labels": [
            [IGNORE_INDEX] * len(prompt) + response
            for prompt, response in zip(prompts, responses, strict=True)
        ],
        "target_text": list(rows[target_column]),
    }
