"""Sequence to sequence (translation, summarization): a source text in, a target text out, teacher-forced."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import datasets

from nlpzoo.data.base import TaskDataModule
from nlpzoo.data.collate import PaddingCollator
from nlpzoo.data.instruction import check_texts, encode_prompt_response_batch
from nlpzoo.data.readers import read_parallel
from nlpzoo.data.sources import SPLIT_ALIASES, column_values, first_present_column, name_parts
from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import IGNORE_INDEX, TaskKind, TaskSpec
from nlpzoo.tokenizers.base import TokenizerRecipe

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def encode_sources(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int
) -> dict[str, list[list[int]]]:
    """Source ids that end with the tokenizer's end-of-sequence token, truncated to `max_length`.

    Pretrained tokenizers (T5, BART, Marian) append it themselves; nlpzoo's word, char and subword
    tokenizers do not, and without it a recurrent encoder-decoder cannot tell where a source without a
    final full stop ends: it learned to stop after "." and looped to the length limit on half of the
    Multi30k validation sources without one (49 of 1,014). bentrevett/pytorch-seq2seq appends <eos> too.
    Training, evaluation, prediction and serving all encode through here.
    """
    features = tokenizer(texts, truncation=True, max_length=max_length)
    eos = tokenizer.eos_token_id
    if eos is None:
        return {"input_ids": features["input_ids"], "attention_mask": features["attention_mask"]}
    ids = [row if row and row[-1] == eos else [*row[: max_length - 1], eos] for row in features["input_ids"]]
    return {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids]}


def encode_seq2seq_batch(
    rows: dict[str, list[Any]],
    tokenizer: PreTrainedTokenizerBase,
    target_tokenizer: PreTrainedTokenizerBase,
    source_column: str,
    target_column: str,
    max_length: int,
    max_target_length: int,
    decoder_start_id: int,
    eos_id: int,
    where: str,
) -> dict[str, list[Any]]:
    """Source ids; target as `decoder_input_ids` = [start] + y and `labels` = y + [eos] (teacher forcing),
    and `target_text`: the target as written, the reference that generated text is scored against."""
    check_texts(rows, (source_column, target_column), where)
    source = encode_sources(tokenizer, rows[source_column], max_length)
    target = target_tokenizer(
        rows[target_column], add_special_tokens=False, truncation=True, max_length=max_target_length - 1
    )
    decoder_input_ids = [[decoder_start_id, *ids] for ids in target["input_ids"]]
    return {
        "input_ids": source["input_ids"],
        "attention_mask": source["attention_mask"],
        "decoder_input_ids": decoder_input_ids,
        "decoder_attention_mask": [[1] * len(ids) for ids in decoder_input_ids],
        "labels": [[*ids, eos_id] for ids in target["input_ids"]],
        "target_text": list(rows[target_column]),
    }


def parallel_split_files(folder: Path, languages: list[str]) -> dict[str, list[Path]]:
    """Split -> one file per language, from names like train.de.gz / train.en.gz / val.de / test_2016.en."""
    found: dict[str, list[Path]] = {}
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for split, aliases in SPLIT_ALIASES.items():
        per_language = []
        for language in languages:
            matches = [p for p in files if set(aliases) & set(name_parts(p)) and language in name_parts(p)]
            if matches:
                per_language.append(matches[0])
        if len(per_language) == len(languages):
            found[split] = per_language
        elif per_language:
            raise DataError(
                f"{folder}: the {split} split has {[p.name for p in per_language]} but not all of {languages}"
            )
    if "train" not in found:
        raise DataError(
            f"no parallel training files in {folder}: expected names like train.{languages[0]}(.gz)"
        )
    return found


class Seq2SeqData(TaskDataModule):
    """Pairs of texts: jsonl/csv/hub rows with `source_column` and `target_column`, or (with
    `parallel_files`) line-aligned files per language named by those columns, gzipped or not.

    One tokenizer for both sides by default; `target_tokenizer` trains (or loads) a separate one
    for the target, whose size is then `TaskSpec.target_vocab_size`. `task` (translation or
    summarization) decides the metrics: summarization adds ROUGE to BLEU and chrF.

    `prompt` (a template with `{source}`, e.g. "Summarize the dialogue:\n{source}\nSummary:") serves
    the pairs to a decoder-only model instead: one prompt + response sequence each, the loss on the
    response only (`data/instruction.py`); `chat` renders the prompt as a user turn of the tokenizer's
    chat template (instruct models; a pretrained decoder sets it to its `model.chat`).
    """

    task_kind = TaskKind.SEQ2SEQ

    def __init__(
        self,
        source_column: str | list[str] = "source",
        target_column: str | list[str] = "target",
        parallel_files: bool = False,
        target_tokenizer: TokenizerRecipe | None = None,
        max_target_length: int = 128,
        task: Literal["translation", "summarization"] = "translation",
        prompt: str | None = None,
        chat: bool = False,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if task not in ("translation", "summarization"):
            raise DataError(f"task={task!r}; valid: translation, summarization")
        if prompt is not None and target_tokenizer is not None:
            raise DataError(
                "data.prompt serves one sequence to a decoder-only model: one tokenizer, no target_tokenizer"
            )
        if chat and prompt is None:
            raise DataError(
                "data.chat=true renders data.prompt as a chat turn: give data.prompt='...{source}...'"
            )
        if parallel_files and not (isinstance(source_column, str) and isinstance(target_column, str)):
            raise DataError("parallel_files needs one language name each in source_column and target_column")
        self.source_column = source_column
        self.target_column = target_column
        self.parallel_files = parallel_files
        self.target_tokenizer_recipe = target_tokenizer
        self.target_tokenizer: Any = None
        self.max_target_length = max_target_length
        self.task = task
        self.prompt = prompt
        self.chat = chat

    def read_splits(self) -> dict[str, datasets.Dataset]:
        if not (self.path and self.parallel_files and Path(self.path).is_dir()):
            return super().read_splits()
        columns = [str(self.source_column), str(self.target_column)]
        files = parallel_split_files(Path(self.path), columns)
        self.split_sources = {split: " + ".join(map(str, paths)) for split, paths in files.items()}
        return {split: read_parallel(paths, columns) for split, paths in files.items()}

    def text_columns(self, split: str, dataset: datasets.Dataset) -> list[str]:
        return list(self._columns(dataset, split))

    def _columns(self, dataset: datasets.Dataset, split: str) -> tuple[str, str]:
        source = first_present_column(dataset, self.source_column, "source", self.where(split))
        return source, first_present_column(dataset, self.target_column, "target", self.where(split))

    def training_texts(self, train: datasets.Dataset) -> list[str]:
        source, target = self._columns(train, "train")
        texts = [t or "" for t in column_values(train, source)]
        if self.target_tokenizer_recipe is None:
            texts += [t or "" for t in column_values(train, target)]
        return texts

    def encode_splits(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        if self.target_tokenizer is None:
            if self.target_tokenizer_recipe is None:
                self.target_tokenizer = self.tokenizer
            else:
                train, (_, target) = splits["train"], self._columns(splits["train"], "train")
                self.target_tokenizer = self.build_tokenizer(
                    self.target_tokenizer_recipe, lambda: [t or "" for t in column_values(train, target)]
                )
        if self.prompt is not None:
            return self.encode_prompt_response(splits, self.prompt)
        encoded = {}
        for split, dataset in splits.items():
            source, target = self._columns(dataset, split)
            encoded[split] = self.map_split(
                dataset,
                encode_seq2seq_batch,
                split,
                tokenizer=self.tokenizer,
                target_tokenizer=self.target_tokenizer,
                source_column=source,
                target_column=target,
                max_length=self.max_length,
                max_target_length=self.max_target_length,
                decoder_start_id=self.decoder_start_id(),
                eos_id=self.target_eos_id(),
                where=self.where(split),
            )
        return encoded

    def encode_prompt_response(
        self, splits: dict[str, datasets.Dataset], template: str
    ) -> dict[str, datasets.Dataset]:
        """Each pair as one prompt + response sequence for a decoder-only model (`data.prompt`)."""
        encoded = {}
        for split, dataset in splits.items():
            source, target = self._columns(dataset, split)
            encoded[split] = self.map_split(
                dataset,
                encode_prompt_response_batch,
                split,
                tokenizer=self.tokenizer,
                source_column=source,
                target_column=target,
                template=template,
                chat=self.chat,
                max_length=self.max_length,
                max_target_length=self.max_target_length,
                eos_id=self.target_eos_id(),
                where=self.where(split),
            )
        return encoded

    def decoder_start_id(self) -> int:
        """What the decoder reads first: the target tokenizer's BOS, else CLS, else pad (as T5 does)."""
        tokenizer = self.target_tokenizer
        for token_id in (tokenizer.bos_token_id, tokenizer.cls_token_id, tokenizer.pad_token_id):
            if token_id is not None:
                return token_id
        raise DataError("the target tokenizer has no BOS, CLS or pad token to start decoding with")

    def target_eos_id(self) -> int:
        tokenizer = self.target_tokenizer
        token_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
        if token_id is None:
            raise DataError("the target tokenizer has no EOS or SEP token to end targets with")
        return token_id

    def target_pad_id(self) -> int:
        pad = self.target_tokenizer.pad_token_id
        return pad if pad is not None else 0

    def collator(self) -> PaddingCollator:
        if self.prompt is not None:  # one sequence: the attention mask pads with 0
            return PaddingCollator(
                {"input_ids": self.tokenizer.pad_token_id, "labels": IGNORE_INDEX},
                passthrough=("target_text",),
            )
        return PaddingCollator(
            {
                "input_ids": self.tokenizer.pad_token_id,
                "decoder_input_ids": self.target_pad_id(),
                "labels": IGNORE_INDEX,
            },
            passthrough=("target_text",),
        )

    def build_spec(self) -> TaskSpec:
        separate = self.target_tokenizer is not self.tokenizer
        return self.make_spec(
            bos_token_id=self.decoder_start_id(),
            eos_token_id=self.target_eos_id(),
            max_target_length=self.max_target_length,
            target_vocab_size=len(self.target_tokenizer) if separate else None,
            target_pad_token_id=self.target_pad_id(),
            seq2seq_task=self.task,
            prompt=self.prompt,
        )
