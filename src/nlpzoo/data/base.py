"""What every task DataModule shares: sources, splits, slices, tokenizer, padded and bucketed loaders."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import datasets
import lightning as L
import pyarrow.compute as pc
import torch
from torch.utils.data import DataLoader, Sampler
from torchdata.stateful_dataloader import StatefulDataLoader

from nlpzoo.data.caching import cached_map, trained_tokenizer
from nlpzoo.data.cleaning import Cleaning
from nlpzoo.data.collate import PaddingCollator, padding_fraction
from nlpzoo.data.sampling import EpochShuffleSampler, LengthBucketSampler
from nlpzoo.data.sources import SPLITS, carve_split, load_local_file, load_splits, local_split_files
from nlpzoo.data.streaming import (
    Encoder,
    HubSource,
    LocalSource,
    RowStream,
    StreamLoader,
    hub_eval_splits,
    require_max_steps,
    stream_head,
)
from nlpzoo.errors import ConfigError, DataError
from nlpzoo.tasks.spec import IGNORE_INDEX, TaskKind, TaskSpec
from nlpzoo.tokenizers.base import TokenizerRecipe

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

TRUNCATED = "truncated"  # a temporary column: did tokenization cut this example at max_length?


def truncated_flags(features: Any) -> list[bool]:
    """Per example of a fast tokenizer's batch output: whether truncation dropped tokens."""
    return [bool(encoding.overflowing) for encoding in features.encodings]


def report_truncation(dataset: datasets.Dataset, split: str, max_length: int) -> datasets.Dataset:
    """Log how many examples were cut to `max_length` tokens (long lines are truncated, never fatal)
    and drop the temporary `truncated` column."""
    if TRUNCATED not in dataset.column_names:  # tokenized before this column existed, read from the cache
        return dataset
    count = sum(dataset[TRUNCATED])
    if count:
        log.warning(
            "%d of %d examples in the %s split were longer than max_length=%d tokens and were truncated",
            count,
            len(dataset),
            split,
            max_length,
        )
    return dataset.remove_columns(TRUNCATED)


class TaskDataModule(L.LightningDataModule):
    """Base of the task DataModules. Subclasses say how to prepare the raw splits (`encode_splits`)
    and what the task looks like (`build_spec`); this class does the rest.

    After `setup()`, `self.spec` is the `TaskSpec` the model is built from and `self.tokenizer`
    the tokenizer, trained on the training split or given (`tokenizer=` a recipe, or a ready
    tokenizer through `use_tokenizer`, which is how a checkpoint's vocabulary is reused).
    """

    task_kind: ClassVar[TaskKind]
    carve_contiguous: ClassVar[bool] = False  # running text: carve the last rows, not random ones
    cleaning_repairs_text: ClassVar[bool] = True  # False where labels are character offsets into the text
    supports_streaming: ClassVar[bool] = False  # can the training split be served as a `RowStream`?

    def __init__(
        self,
        tokenizer: TokenizerRecipe | None = None,
        source: str | None = None,
        subset: str | None = None,
        path: str | None = None,
        files: dict[str, str] | None = None,
        reader_options: dict[str, Any] | None = None,
        file_format: str | None = None,
        split_column: str | None = None,
        split_values: dict[str, str] | None = None,
        drop_splits: list[str] | None = None,
        carve_by: str | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        max_length: int = 128,
        max_train_samples: int | None = None,
        max_val_samples: int | None = None,
        max_test_samples: int | None = None,
        carve_fraction: float = 0.1,
        bucket_by_length: bool = False,
        seed: int = 42,
        cleaning: Cleaning | None = None,
        streaming: bool = False,
        streaming_chunk_rows: int = 1000,
        streaming_tokenizer_rows: int = 100_000,
    ) -> None:
        super().__init__()
        if streaming and not self.supports_streaming:
            raise ConfigError(
                f"data.streaming=true is implemented for language modeling and text classification, "
                f"not {self.task_kind.value} ({type(self).__name__})"
            )
        if streaming and (cleaning is not None or split_column):
            raise ConfigError(
                "data.cleaning and data.split_column read whole splits; they cannot run with data.streaming=true"
            )
        self.streaming = streaming
        self.streaming_chunk_rows = streaming_chunk_rows
        self.streaming_tokenizer_rows = streaming_tokenizer_rows
        self.stream_source: LocalSource | HubSource | None = None
        self.stream_encoder: Encoder | None = None
        self.training_stream: StreamLoader | None = None  # the training stream's loader, once built
        self.tokenizer_recipe = tokenizer
        self.source = source
        self.subset = subset
        self.path = path
        self.files = dict(files) if files else None
        self.reader_options = dict(reader_options) if reader_options else {}
        self.file_format = file_format
        self.split_column = split_column
        self.split_values = dict(split_values) if split_values else {}
        self.drop_splits = list(drop_splits) if drop_splits else []
        unknown = set(self.split_values) | set(self.drop_splits)
        if unknown - set(SPLITS):
            raise DataError(
                f"split_values/drop_splits name unknown split(s) {sorted(unknown - set(SPLITS))}; valid: {list(SPLITS)}"
            )
        if split_column and not self.split_values:
            raise DataError(
                f"split_column={split_column} needs split_values, e.g. {{train: TRAIN, test: TEST}}"
            )
        self.carve_by = carve_by
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.max_length = max_length
        self.max_samples = {
            "train": max_train_samples,
            "validation": max_val_samples,
            "test": max_test_samples,
        }
        self.carve_fraction = carve_fraction
        self.bucket_by_length = bucket_by_length
        self.seed = seed
        self.cleaning = cleaning
        self.tokenizer: Any = None
        self.splits: dict[str, datasets.Dataset] = {}
        self.split_sources: dict[str, str] = {}  # split -> the file or hub dataset it came from
        self.spec: TaskSpec | None = None

    # --- what subclasses provide -------------------------------------------------------------
    def training_texts(self, train: datasets.Dataset) -> list[str]:
        """Texts a trained tokenizer learns its vocabulary from."""
        raise NotImplementedError

    def encode_splits(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        """Validate and tokenize raw splits into model-ready columns (HF batch key names)."""
        raise NotImplementedError

    def build_spec(self) -> TaskSpec:
        raise NotImplementedError

    def text_columns(self, split: str, dataset: datasets.Dataset) -> list[str]:
        """The text fields `data.cleaning` repairs and compares, the model's input first."""
        raise NotImplementedError(
            f"{type(self).__name__} does not say its text fields, so it cannot be cleaned"
        )

    def check_raw_split(self, split: str, dataset: datasets.Dataset) -> None:
        """Fail early (before any carving or tokenizing) when a split lacks what the task needs."""

    def streaming_encoder(self, head: datasets.Dataset) -> Encoder:
        """How a chunk of streamed training rows (whose first rows are `head`) becomes examples."""
        raise NotImplementedError

    def make_spec(self, **fields: Any) -> TaskSpec:
        """A `TaskSpec` of this module's kind with the tokenizer's sizes and special ids filled in."""
        tokenizer = self.tokenizer
        defaults: dict[str, Any] = {
            "kind": self.task_kind,
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
            "unk_token_id": tokenizer.unk_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "mask_token_id": tokenizer.mask_token_id,
            "cls_token_id": tokenizer.cls_token_id,
            "sep_token_id": tokenizer.sep_token_id,
            "max_length": self.max_length,
        }
        return TaskSpec(**{**defaults, **fields})

    def read_file(self, path: Path) -> datasets.Dataset:
        """One local file as a dataset; task modules with their own formats (CoNLL, SQuAD JSON) override."""
        return load_local_file(path, self.reader_options, self.file_format)

    def collator(self) -> PaddingCollator:
        return PaddingCollator({"input_ids": self.tokenizer.pad_token_id, "labels": IGNORE_INDEX})

    # --- shared machinery --------------------------------------------------------------------
    def use_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Reuse a ready tokenizer (a checkpoint's) instead of training one."""
        self.tokenizer = tokenizer

    def read_splits(self) -> dict[str, datasets.Dataset]:
        """The splits the source has: local files through `read_file`, or a hub dataset's."""
        if self.path:
            files = local_split_files(self.path, self.files)
            self.split_sources = {split: str(file) for split, file in files.items()}
            return {split: self.read_file(file) for split, file in files.items()}
        splits = load_splits(self.source, subset=self.subset)
        self.split_sources = {split: f"hub dataset {self.source}" for split in splits}
        return splits

    def where(self, split: str) -> str:
        """'the validation split (path/to/dev.tsv)', for error messages."""
        return f"the {split} split ({self.split_sources.get(split, self.path or self.source)})"

    def load_raw_splits(self) -> dict[str, datasets.Dataset]:
        """All three splits, carving a missing validation or test split from train, then sliced."""
        splits = self.read_splits()
        if self.split_column:
            splits = self._split_by_column(splits)
        for split in self.drop_splits:
            splits.pop(split, None)
        for split, dataset in splits.items():
            self.check_raw_split(split, dataset)
        for split in ("validation", "test"):
            if split not in splits:
                splits = carve_split(
                    splits, split, self.carve_fraction, self.seed, self.carve_by, self.carve_contiguous
                )
                self.split_sources[split] = f"carved from {self.split_sources.get('train')}"
        for split, limit in self.max_samples.items():
            if limit is not None and limit < len(splits[split]):
                rows = splits[split] if self.carve_contiguous else splits[split].shuffle(seed=self.seed)
                splits[split] = rows.select(range(limit))
        for split in SPLITS:
            if len(splits[split]) == 0:
                raise DataError(f"{self.where(split)} is empty")
        return splits

    def _split_by_column(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        """One table whose `split_column` names each row's split (SICK's SemEval_set)."""
        table = datasets.concatenate_datasets(list(splits.values())) if len(splits) > 1 else splits["train"]
        if self.split_column not in table.column_names:
            raise DataError(
                f"split_column '{self.split_column}' not in {self.where('train')}; columns: {table.column_names}"
            )
        source = self.split_sources.get("train", "")
        self.split_sources = {split: source for split in self.split_values}
        return {
            split: cached_map(table, row_in_split, {"column": self.split_column, "value": value}, keep=True)
            for split, value in self.split_values.items()
        }

    def map_split(
        self, dataset: datasets.Dataset, function: Callable[..., Any], split: str, **fn_kwargs: Any
    ) -> datasets.Dataset:
        """Batched, cached `map` of a module-level encoding function over a split, replacing its columns."""
        return cached_map(
            dataset,
            function,
            fn_kwargs,
            batched=True,
            remove_columns=dataset.column_names,
            desc=f"tokenizing {split}",
        )

    def load_streamed_splits(self) -> tuple[datasets.Dataset, dict[str, datasets.Dataset]]:
        """Streaming: the training stream's first rows, and the validation and test splits read whole."""
        if self.path:
            files = local_split_files(self.path, self.files)
            self.split_sources = {split: str(file) for split, file in files.items()}
            self.stream_source = LocalSource(files.pop("train"), self.reader_options, self.file_format)
            splits = {split: self.read_file(file) for split, file in files.items()}
        else:
            if not self.source:
                raise DataError("no data given: set data.path=FILE_OR_DIR or data.source=HUB_DATASET_NAME")
            splits = hub_eval_splits(self.source, self.subset)
            self.split_sources = {split: f"hub dataset {self.source}" for split in [*splits, "train"]}
            self.stream_source = HubSource(self.source, self.subset)
        self.split_sources["train"] += " (streamed)"
        for split in self.drop_splits:
            splits.pop(split, None)
        if "validation" not in splits:
            raise DataError(
                f"data.streaming=true needs a validation split of its own beside {self.where('train')}: "
                "name it with data.files.validation=FILE (a stream is never carved)"
            )
        if "test" not in splits:
            log.warning("no test split beside the training stream: testing on the validation split")
            splits["test"] = splits["validation"]
            self.split_sources["test"] = self.split_sources["validation"]
        for split, dataset in splits.items():
            self.check_raw_split(split, dataset)
            limit = self.max_samples[split]
            if limit is not None and limit < len(dataset):
                splits[split] = dataset.select(range(limit))
        head = datasets.Dataset.from_list(stream_head(self.stream_source, self.streaming_tokenizer_rows))
        self.check_raw_split("train", head)
        return head, splits

    def setup(self, stage: str | None = None) -> None:
        if self.spec is not None:
            return
        if self.streaming:
            self.setup_stream()
            return
        raw = self.load_raw_splits()
        if self.cleaning is not None:
            columns = {split: self.text_columns(split, dataset) for split, dataset in raw.items()}
            raw = self.cleaning.apply(raw, columns, repair_text=self.cleaning_repairs_text)
        if self.tokenizer is None:
            self.tokenizer = self.build_tokenizer(
                self.tokenizer_recipe, lambda: self.training_texts(raw["train"])
            )
        self.splits = self.encode_splits(raw)
        self.spec = self.build_spec()
        log.info(
            "%s: %s examples, vocabulary %d, padding fraction %.3f",
            type(self).__name__,
            {split: len(data) for split, data in self.splits.items()},
            self.spec.vocab_size,
            self.padding_fraction("train") or 0.0,
        )

    def setup_stream(self) -> None:
        """`setup` for a streamed training split: the tokenizer learns from its first rows."""
        head, raw = self.load_streamed_splits()
        if self.tokenizer is None:
            self.tokenizer = self.build_tokenizer(self.tokenizer_recipe, lambda: self.training_texts(head))
        self.splits = self.encode_splits(raw)
        self.stream_encoder = self.streaming_encoder(head)
        self.spec = self.build_spec()
        log.info(
            "%s: training on a stream of %s (tokenizer from its first %d rows), %s evaluation examples",
            type(self).__name__,
            self.split_sources["train"],
            len(head),
            {split: len(data) for split, data in self.splits.items()},
        )

    def build_tokenizer(
        self, recipe: TokenizerRecipe | None, texts: Callable[[], list[str]]
    ) -> PreTrainedTokenizerBase:
        """The recipe's tokenizer: trained on `texts()` (once; reused from the cache after) or pretrained."""
        if recipe is None:
            raise DataError(
                "no tokenizer: set tokenizer=word|char|bpe|wordpiece|unigram|pretrained in the config"
            )
        if not recipe.trains_on_data:
            return recipe.build(())
        return trained_tokenizer(recipe, texts())

    def lengths(self, split: str) -> list[int]:
        """Token count of each example of a split (the `input_ids` lengths), read through Arrow."""
        return pc.list_value_length(self.splits[split].with_format("arrow")["input_ids"]).to_pylist()

    def train_sampler(self) -> Sampler[int]:
        """Seeded per epoch (never from the global generator), so resumed runs replay the same order."""
        if not self.bucket_by_length:
            return EpochShuffleSampler(len(self.splits["train"]), seed=self.seed)
        return LengthBucketSampler(self.lengths("train"), self.batch_size, seed=self.seed)

    def padding_fraction(self, split: str = "train") -> float | None:
        """Padding share of one epoch of `split` batches, as the loader would serve them (None: a stream)."""
        if split not in self.splits:
            return None
        return self.padding_of(self.lengths(split), split)

    def padding_report(self) -> dict[str, float | None]:
        """The training loader's padding share for summary.json (modules that reshape examples add the
        share before reshaping)."""
        return {"padding_fraction": self.padding_fraction("train")}

    def padding_of(self, lengths: list[int], split: str) -> float:
        """Padding share of examples of `lengths` batched as `split`'s loader batches (bucketed if it buckets)."""
        if split == "train" and isinstance(self.train_sampler(), LengthBucketSampler):
            batches = LengthBucketSampler(lengths, self.batch_size, seed=self.seed).batches()
        else:
            size = self.batch_size if split == "train" else self.eval_batch_size
            batches = [list(range(i, min(i + size, len(lengths)))) for i in range(0, len(lengths), size)]
        return padding_fraction(lengths, batches)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if self.spec is None:
            raise RuntimeError("call setup() before asking for a data loader")
        if split not in self.splits:  # the training split of data.streaming=true
            raise DataError(f"{self.where(split)} is a stream: it has no fixed examples to evaluate on")
        sampler = self.train_sampler() if split == "train" and shuffle else None
        # Stateful: Lightning saves its position, so a mid-epoch resume continues with the next batch.
        return StatefulDataLoader(
            self.splits[split],
            batch_size=self.batch_size if split == "train" else self.eval_batch_size,
            sampler=sampler,
            generator=torch.Generator().manual_seed(self.seed),  # worker seeds: not from the global RNG
            collate_fn=self.collator(),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        if self.streaming:
            return self.stream_loader()
        return self._loader("train", shuffle=True)

    def stream_loader(self) -> DataLoader:
        """The training stream, sharded over this run's DDP ranks (and, inside it, the loader's workers)."""
        if self.stream_source is None or self.stream_encoder is None:
            raise RuntimeError("call setup() before asking for a data loader")
        trainer = self.trainer  # None outside a Trainer: one rank
        if trainer is not None:
            require_max_steps(trainer.max_steps)
        if self.bucket_by_length:
            log.warning("bucket_by_length needs every length of the split: a stream is served in file order")
        stream = RowStream(
            self.stream_source,
            self.stream_encoder,
            self.streaming_chunk_rows,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
        )
        # Stateful: the stream's position per worker goes into Lightning's checkpoint.
        self.training_stream = StreamLoader(
            stream,
            batch_size=self.batch_size,
            generator=torch.Generator().manual_seed(self.seed),
            collate_fn=self.collator(),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )
        return self.training_stream

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """A training batch reaches its step: the stream's checkpointed position moves past it."""
        if self.training_stream is not None and self.trainer is not None and self.trainer.training:
            self.training_stream.take()
        return batch

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def split_dataloader(self, split: str) -> DataLoader:
        """An unshuffled loader over any split, as evaluation reads it (the training split included)."""
        return self._loader(split, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def row_in_split(row: dict[str, Any], column: str, value: str) -> bool:
    """Filter for `split_column` (module level, so `datasets` caches its result)."""
    return str(row[column]) == str(value)
