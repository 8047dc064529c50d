"""What every task DataModule shares: sources, splits, slices, tokenizer, padded and bucketed loaders."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import datasets
import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler
from torchdata.stateful_dataloader import StatefulDataLoader

from nlpzoo.data.collate import PaddingCollator, padding_fraction
from nlpzoo.data.sampling import LengthBucketSampler
from nlpzoo.data.sources import SPLITS, carve_split, load_splits
from nlpzoo.errors import DataError
from nlpzoo.tasks.spec import TaskKind, TaskSpec
from nlpzoo.tokenizers.base import TokenizerRecipe

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
            count, len(dataset), split, max_length,
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

    def __init__(
        self,
        tokenizer: TokenizerRecipe | None = None,
        source: str | None = None,
        subset: str | None = None,
        path: str | None = None,
        files: dict[str, str] | None = None,
        reader_options: dict[str, Any] | None = None,
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
    ) -> None:
        super().__init__()
        self.tokenizer_recipe = tokenizer
        self.source = source
        self.subset = subset
        self.path = path
        self.files = dict(files) if files else None
        self.reader_options = dict(reader_options) if reader_options else {}
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.max_length = max_length
        self.max_samples = {"train": max_train_samples, "validation": max_val_samples, "test": max_test_samples}
        self.carve_fraction = carve_fraction
        self.bucket_by_length = bucket_by_length
        self.seed = seed
        self.tokenizer: Any = None
        self.splits: dict[str, datasets.Dataset] = {}
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

    def collator(self) -> PaddingCollator:
        return PaddingCollator({"input_ids": self.tokenizer.pad_token_id, "labels": -100})

    # --- shared machinery --------------------------------------------------------------------
    def use_tokenizer(self, tokenizer: Any) -> None:
        """Reuse a ready tokenizer (a checkpoint's) instead of training one."""
        self.tokenizer = tokenizer

    def load_raw_splits(self) -> dict[str, datasets.Dataset]:
        """All three splits, carving a missing validation or test split from train, then sliced."""
        splits = load_splits(self.source, self.path, self.files, self.subset, self.reader_options)
        for split in ("validation", "test"):
            if split not in splits:
                splits = carve_split(splits, split, self.carve_fraction, self.seed)
        for split, limit in self.max_samples.items():
            if limit is not None and limit < len(splits[split]):
                splits[split] = splits[split].shuffle(seed=self.seed).select(range(limit))
        for split in SPLITS:
            if len(splits[split]) == 0:
                raise DataError(f"the {split} split is empty")
        return splits

    def setup(self, stage: str | None = None) -> None:
        if self.spec is not None:
            return
        raw = self.load_raw_splits()
        if self.tokenizer is None:
            if self.tokenizer_recipe is None:
                raise DataError("no tokenizer: set tokenizer=word|char|... in the config")
            self.tokenizer = self.tokenizer_recipe.build(self.training_texts(raw["train"]))
        self.splits = self.encode_splits(raw)
        self.spec = self.build_spec()
        log.info(
            "%s: %s examples, vocabulary %d, padding fraction %.3f",
            type(self).__name__,
            {split: len(data) for split, data in self.splits.items()},
            self.spec.vocab_size,
            self.padding_fraction("train"),
        )

    def lengths(self, split: str) -> list[int]:
        return [len(ids) for ids in self.splits[split]["input_ids"]]

    def train_sampler(self) -> Sampler[int] | None:
        if not self.bucket_by_length:
            return None
        return LengthBucketSampler(self.lengths("train"), self.batch_size, seed=self.seed)

    def padding_fraction(self, split: str = "train") -> float:
        """Padding share of one epoch of `split` batches, as the loader would serve them."""
        lengths = self.lengths(split)
        sampler = self.train_sampler() if split == "train" else None
        if isinstance(sampler, LengthBucketSampler):
            batches = sampler.batches()
        else:
            size = self.batch_size if split == "train" else self.eval_batch_size
            batches = [list(range(i, min(i + size, len(lengths)))) for i in range(0, len(lengths), size)]
        return padding_fraction(lengths, batches)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if self.spec is None:
            raise RuntimeError("call setup() before asking for a data loader")
        sampler = self.train_sampler() if split == "train" else None
        # Stateful: Lightning saves its position and shuffle state, so a mid-epoch resume continues the same order.
        return StatefulDataLoader(
            self.splits[split],
            batch_size=self.batch_size if split == "train" else self.eval_batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            collate_fn=self.collator(),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            # Its own random stream: building a loader never draws from the global RNG (dropout's), so a
            # resumed run's extra loader set-up cannot shift the random numbers training sees.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
