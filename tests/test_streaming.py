"""`data.streaming=true`: flat memory as the corpus grows, disjoint shards, a mid-stream resume, a real run."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning as L
import pytest
import torch

from nlpzoo.data import LanguageModelingData, TextClassificationData
from nlpzoo.data.streaming import RowStream
from nlpzoo.errors import ConfigError
from nlpzoo.tokenizers import WordTokenizer
from tests.conftest import ROOT


def write_corpus(shared_data: Path, folder: Path, lines: int, repeat: int = 1) -> Path:
    """train.txt: the first `lines` lines of Tiny Shakespeare `repeat` times over; valid.txt/test.txt after them."""
    text = (shared_data / "tinyshakespeare" / "input.txt").read_text().splitlines(keepends=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.txt").write_text("".join(text[:lines]) * repeat)
    (folder / "valid.txt").write_text("".join(text[lines : lines + 200]))
    (folder / "test.txt").write_text("".join(text[lines + 200 : lines + 400]))
    return folder


def write_sst2(shared_data: Path, folder: Path, rows: int) -> Path:
    """train.tsv: `rows` distinct SST-2 training sentences (an even count), beside SST-2's dev.tsv."""
    lines = (shared_data / "sst2" / "train.tsv").read_text().splitlines()
    distinct = list(dict.fromkeys(lines[1:]))[:rows]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.tsv").write_text("\n".join([lines[0], *distinct]) + "\n")
    (folder / "dev.tsv").write_text((shared_data / "sst2" / "dev.tsv").read_text())
    return folder


def sst2_stream(folder: Path | None, **options: Any) -> TextClassificationData:
    settings = {
        "path": str(folder) if folder else None,
        "text_column": ["sentence", "content"],
        "label_names": ["negative", "positive"],
        "streaming": True,
        "streaming_chunk_rows": 64,
        **options,
    }
    datamodule = TextClassificationData(tokenizer=WordTokenizer(), **settings)
    datamodule.setup("fit")
    return datamodule


def one_pass(stream: RowStream) -> list[tuple[int, ...]]:
    """The examples of the stream's first pass over its source (input ids, then the label)."""
    examples = []
    for example in stream:
        if stream.chunk["pass"] > 0:
            break
        examples.append((*example["input_ids"], example["labels"]))
    return examples


def test_two_ranks_see_disjoint_rows_whose_union_is_the_stream(shared_data: Path, tmp_path: Path) -> None:
    datamodule = sst2_stream(write_sst2(shared_data, tmp_path / "sst2", rows=600))
    whole = one_pass(datamodule.train_dataloader().dataset)
    assert len(whole) == 600
    shards = []
    for rank in (0, 1):  # as Lightning's DDP strategy sets them on each rank's trainer
        datamodule.trainer = SimpleNamespace(global_rank=rank, world_size=2, max_steps=10)  # type: ignore[assignment]
        shards.append(one_pass(datamodule.train_dataloader().dataset))
    assert len(shards[0]) == len(shards[1]) == 300
    assert not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == sorted(whole)


def test_a_hub_dataset_streams_as_its_local_files_do(shared_data: Path, tmp_path: Path) -> None:
    # A folder of train/validation/test JSON Lines is what `datasets.load_dataset(NAME, streaming=True)`
    # reads for a hub name too, so this runs the hub code path offline.
    sst2 = write_sst2(shared_data, tmp_path / "sst2", rows=300)
    hub = tmp_path / "hub"
    hub.mkdir()
    for name, split in (("train.tsv", "train"), ("dev.tsv", "validation"), ("dev.tsv", "test")):
        header, *rows = (sst2 / name).read_text().splitlines()
        columns = [{"content": "sentence"}.get(c, c) for c in header.split("\t")]  # one schema for all splits
        records = [dict(zip(columns, row.split("\t"), strict=True)) for row in rows]
        (hub / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    local = one_pass(sst2_stream(sst2).train_dataloader().dataset)
    streamed = sst2_stream(None, source=str(hub))
    assert streamed.split_sources["train"].startswith("hub dataset")
    assert one_pass(streamed.train_dataloader().dataset) == local


def test_two_loader_workers_tokenize_disjoint_rows(shared_data: Path, tmp_path: Path) -> None:
    datamodule = sst2_stream(write_sst2(shared_data, tmp_path / "sst2", rows=600), batch_size=1)
    whole = one_pass(datamodule.train_dataloader().dataset)
    workers = sst2_stream(write_sst2(shared_data, tmp_path / "sst2", rows=600), batch_size=1, num_workers=2)
    loader = workers.train_dataloader()
    served = [
        (*batch["input_ids"][0].tolist(), int(batch["labels"][0])) for batch in itertools.islice(loader, 600)
    ]
    # Workers take turns, 300 rows each: the first 600 examples are exactly one pass, none twice.
    assert len(set(served)) == 600
    assert sorted(served) == sorted(whole)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_resumes_mid_stream_with_the_next_batch(
    shared_data: Path, tmp_path: Path, num_workers: int
) -> None:
    folder = write_corpus(shared_data, tmp_path / "corpus", lines=1500)
    options = {"block_size": 32, "batch_size": 4, "streaming_chunk_rows": 50, "num_workers": num_workers}

    def stream() -> LanguageModelingData:
        datamodule = LanguageModelingData(
            tokenizer=WordTokenizer(), path=str(folder), streaming=True, **options
        )
        datamodule.setup("fit")
        return datamodule

    straight = [batch["input_ids"] for batch in itertools.islice(stream().train_dataloader(), 30)]
    interrupted = stream().train_dataloader()
    batches = iter(interrupted)
    for _ in range(
        13
    ):  # not a chunk boundary: the resumed loader re-reads its chunk and skips what was served
        next(batches)
    state = interrupted.state_dict()
    del batches
    resumed = stream().train_dataloader()
    resumed.load_state_dict(state)
    after = [batch["input_ids"] for batch in itertools.islice(resumed, 17)]
    assert all(torch.equal(a, b) for a, b in zip(after, straight[13:], strict=True))


class RecordBatches(L.Callback):
    """Appends each training batch's input ids to a JSON Lines file (what a run saw, in order)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int
    ) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(batch["input_ids"].tolist()) + "\n")


def test_training_resumed_from_its_checkpoint_sees_the_batches_the_straight_run_saw(
    train_run, shared_data: Path, tmp_path: Path
) -> None:
    folder = write_sst2(shared_data, tmp_path / "sst2", rows=400)
    common = [f"data.path={folder}", "data.streaming=true", "data.streaming_chunk_rows=50", "test=false"]
    common += ["validate_best=false", "callbacks.early_stopping=null"]

    def record(name: str) -> str:
        return f"+callbacks.record={{_target_: tests.test_streaming.RecordBatches, path: {tmp_path / name}}}"

    train_run([*common, "trainer.max_steps=10", record("straight.jsonl")], output_dir=tmp_path / "straight")
    run = tmp_path / "interrupted"
    first = train_run([*common, "trainer.max_steps=4", record("first.jsonl")], output_dir=run)
    assert first["global_steps"] == 4
    resumed = train_run(
        [*common, "trainer.max_steps=10", "ckpt_path=last", record("rest.jsonl")], output_dir=run
    )
    assert resumed["global_steps"] == 10
    straight = (tmp_path / "straight.jsonl").read_text().splitlines()
    assert (tmp_path / "first.jsonl").read_text().splitlines() == straight[:4]
    assert (tmp_path / "rest.jsonl").read_text().splitlines() == straight[4:]


PEAK_RSS = textwrap.dedent(
    """
    import resource, sys
    from nlpzoo.data import LanguageModelingData
    from nlpzoo.tokenizers import WordTokenizer

    datamodule = LanguageModelingData(tokenizer=WordTokenizer(), path=sys.argv[1], streaming=True, block_size=64)
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    batches = 0
    for batch in loader:
        if loader.dataset.chunk["pass"] > 0:
            break
        batches += 1
    print(batches, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def streamed_pass(folder: Path) -> tuple[int, int]:
    """(batches in one pass, peak RSS in KiB) of a fresh process streaming the corpus in `folder`."""
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    batches, peak = result.stdout.split()[-2:]
    return int(batches), int(peak)


@pytest.mark.slow  # two fresh processes, each streaming a corpus: ~45 s on a shared 2-core machine
def test_peak_memory_stays_flat_when_the_corpus_grows_16x(shared_data: Path, tmp_path: Path) -> None:
    small_batches, small_peak = streamed_pass(write_corpus(shared_data, tmp_path / "x1", lines=5000))
    large_batches, large_peak = streamed_pass(
        write_corpus(shared_data, tmp_path / "x16", lines=5000, repeat=16)
    )
    print(
        f"streamed pass: 1x {small_batches} batches, peak {small_peak} KiB; 16x {large_batches}, {large_peak} KiB"
    )
    assert large_batches >= 15 * small_batches  # the whole 16x corpus was read
    assert large_peak <= 1.2 * small_peak, (small_peak, large_peak)


def test_streaming_without_max_steps_or_for_another_task_is_a_config_error(
    train_script, shared_data: Path, tmp_path: Path
) -> None:
    result = train_script(["data.streaming=true"])
    assert result.returncode != 0
    assert "trainer.max_steps" in result.stderr and "Traceback" not in result.stderr, result.log
    with pytest.raises(ConfigError, match="language modeling and text classification"):
        from nlpzoo.data import TokenClassificationData

        TokenClassificationData(path=str(tmp_path), streaming=True)


def test_a_streamed_language_model_trains_from_the_command_line(
    train_script, shared_data: Path, tmp_path: Path
) -> None:
    folder = write_corpus(shared_data, tmp_path / "corpus", lines=3000)
    result = train_script(
        [
            "data=tinyshakespeare",
            f"data.path={folder}",
            "data.streaming=true",
            "data.num_workers=2",
            "trainer.max_steps=6",
            "model=gpt",
            "tokenizer=char",
            "data.block_size=32",
            "model.dim=32",
            "model.layers=1",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        tiny=False,
    )
    assert result.returncode == 0, result.log
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["global_steps"] == 6
    assert summary["padding_fraction"] is None  # a stream's padding is not known before it is read
    assert "val/loss" in summary["metrics"] and "test/loss" in summary["metrics"]
