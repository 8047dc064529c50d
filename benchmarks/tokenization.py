"""How fast SST-2 (67k sentences) is tokenized with a trained 8k BPE, cached, and how much padding bucketing saves.

PYTHONPATH=src python benchmarks/tokenization.py [--data-dir ../shared/data/sst2] [--vocab-size 8000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import datasets

from nlpzoo.data import TextClassificationData
from nlpzoo.data.sources import column_values
from nlpzoo.tokenizers import BpeTokenizer


def sst2(data_dir: Path, vocab_size: int, batch_size: int, bucket: bool) -> TextClassificationData:
    return TextClassificationData(
        tokenizer=BpeTokenizer(vocab_size=vocab_size),
        path=str(data_dir),
        text_column=["sentence", "content"],
        label_names=["negative", "positive"],
        batch_size=batch_size,
        bucket_by_length=bucket,
    )


def timed(label: str, function, *args):
    start = time.perf_counter()
    result = function(*args)
    print(f"{label:<58} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"
    )
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    datasets.disable_progress_bars()
    datamodule = sst2(args.data_dir, args.vocab_size, args.batch_size, bucket=False)
    raw = datamodule.load_raw_splits()
    texts = column_values(raw["train"], "sentence")
    print(f"SST-2 train: {len(texts)} sentences")
    recipe = BpeTokenizer(vocab_size=args.vocab_size)
    tokenizer = timed(f"train a {args.vocab_size} BPE on them", recipe.build, texts)
    encoded = timed("tokenize them (one batched call of the fast tokenizer)", tokenizer, texts)
    tokens = sum(len(ids) for ids in encoded["input_ids"])
    print(f"{'':<58} {tokens} tokens, {tokens / len(texts):.1f} per sentence")

    datasets.disable_caching()
    datamodule.tokenizer = tokenizer
    timed("tokenize all splits through the DataModule, no cache", datamodule.encode_splits, raw)
    datasets.enable_caching()
    timed(
        "setup() of a fresh DataModule (fills or reads the cache)",
        sst2(args.data_dir, args.vocab_size, args.batch_size, False).setup,
    )
    timed(
        "setup() again: identical run, served from the cache",
        sst2(args.data_dir, args.vocab_size, args.batch_size, False).setup,
    )

    for bucket in (False, True):
        module = sst2(args.data_dir, args.vocab_size, args.batch_size, bucket)
        module.setup()
        print(
            f"padding fraction, batch {args.batch_size}, bucketing {'on ' if bucket else 'off'}: {module.padding_fraction('train'):.3f}"
        )


if __name__ == "__main__":
    main()
