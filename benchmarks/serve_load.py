"""Load test of `serve.py` on loopback: N concurrent clients, batched against unbatched, in one run.

    python benchmarks/serve_load.py --ckpt PATH [PATH ...] [--backends onnx torch] [--requests 300]
    python benchmarks/serve_load.py --tiny DIR     # every task kind, on tiny checkpoints trained into DIR

For each checkpoint, each backend its kind serves (all five for classifiers, taggers and QA models;
PyTorch for generation) and each `max_batch_size` (1: unbatched, and the batched size), a fresh server
on 127.0.0.1 answers a fixed number of real requests (SST-2 dev sentences, CoNLL sentences for a tagger,
SQuAD questions for a QA model, Tiny Shakespeare lines for a language model, Multi30k German sources for
seq2seq) from `--concurrency` threads: requests/second, p50/p95/p99 latency, errors, and the batch sizes
the server formed (its /metrics). Bounded: `--requests` per configuration and `--budget-s` of sending
each. Run `export.py` first for the ONNX backends (`--tiny` exports its checkpoints itself). `--tiny`
trains the recipes of tests/task_checkpoints.py (slices of the real data, a minute or so each), once.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from nlpzoo.export.runtime import BACKENDS
from nlpzoo.serve.api import checkpoint_kind
from nlpzoo.serve.drift_statistics import GENERATING
from nlpzoo.serve.launch import load_test, running_server
from nlpzoo.tasks import TaskKind

ROOT = Path(__file__).resolve().parents[1]
TINY_RECIPES = ["classify_lstm", "tag_bilstm_crf", "qa_encoder", "lm_gpt", "seq2seq_attention"]


def tiny_checkpoints(folder: Path, data_dir: Path) -> list[str]:
    """A tiny exported checkpoint per task kind (tests/task_checkpoints.py's recipes), trained into `folder` once."""
    sys.path.insert(0, str(ROOT))
    from tests.task_checkpoints import export_checkpoint, train_recipe

    checkpoints = []
    for name in TINY_RECIPES:
        done = folder / name / "checkpoint.txt"
        if not done.is_file():
            checkpoint = train_recipe(name, folder / name, data_dir)["best_checkpoint"]
            export_checkpoint(checkpoint, folder / name)
            done.write_text(str(checkpoint))
        checkpoints.append(done.read_text())
    return checkpoints


def served_backends(kind: TaskKind, wanted: list[str] | None) -> list[str]:
    """The backends asked for (default: all) that serve.py serves this kind on."""
    backends = ["torch"] if kind in GENERATING else list(BACKENDS)
    return [b for b in backends if wanted is None or b in wanted]


def payloads_for(kind: TaskKind, data_dir: Path, count: int) -> list[Any]:
    """Real requests of the checkpoint's task kind: texts, or question + context."""
    if kind is TaskKind.EXTRACTIVE_QA:
        articles = json.loads((data_dir / "squad" / "dev-v1.1.json").read_text())["data"]
        rows = [
            {"question": qa["question"], "context": paragraph["context"]}
            for article in articles
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        ]
        rows = [row for row in rows if len(row["context"]) <= 1500]
    elif kind is TaskKind.TOKEN_CLASSIFICATION:
        rows, words = [], []
        for line in (data_dir / "conll2003" / "eng.testa").read_text(encoding="utf-8").splitlines():
            if line.strip():
                words.append(line.split()[0])
            elif words:
                if words[0] != "-DOCSTART-":
                    rows.append(" ".join(words))
                words = []
    elif kind is TaskKind.SEQ2SEQ:
        with gzip.open(data_dir / "multi30k" / "test_2016_flickr.de.gz", "rt", encoding="utf-8") as file:
            rows = [line.strip() for line in file if line.strip()]
    elif kind is TaskKind.LANGUAGE_MODELING:
        rows = [
            line
            for line in (data_dir / "tinyshakespeare" / "input.txt").read_text().splitlines()
            if line.strip()
        ]
    else:
        lines = (data_dir / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
        rows = [line.split("\t", 1)[1] for line in lines]
    return [rows[i % len(rows)] for i in range(count)]


def run_configuration(
    args: argparse.Namespace, checkpoint: str, backend: str, max_batch_size: int, payloads: list[Any]
) -> dict[str, Any]:
    """One fresh server: warm-up, the timed requests, then the batch sizes it formed for them."""
    with tempfile.TemporaryDirectory() as run_dir:
        overrides = [
            f"ckpt_path={checkpoint}",
            f"backend={backend}",
            f"max_batch_size={max_batch_size}",
            f"batch_timeout={args.batch_timeout}",
            f"threads={args.threads}",
            "drift.enabled=false",
            "max_chars=1500",
            f"hydra.run.dir={run_dir}",
            *args.override,
        ]
        with running_server(overrides, Path(run_dir) / "server.log") as url:
            load_test(url, payloads[: args.concurrency * 2], args.concurrency)  # warm-up
            before = httpx.get(f"{url}/metrics", params={"format": "json"}).json()
            result = load_test(url, payloads, args.concurrency, args.budget_s)
            after = httpx.get(f"{url}/metrics", params={"format": "json"}).json()
    batches = after["batches"] - before["batches"]
    counts = [
        a - b for a, b in zip(after["batch_sizes"]["counts"], before["batch_sizes"]["counts"], strict=True)
    ]
    sizes = {
        f"<={bound}": count
        for bound, count in zip(after["batch_sizes"]["buckets"], counts, strict=True)
        if count
    }
    return {
        "task": after["task"],
        "backend": backend,
        "max_batch_size": max_batch_size,
        **result,
        "mean_batch_size": (after["requests"] - before["requests"]) / max(batches, 1),
        "batch_sizes": sizes,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per task x backend x max_batch_size."""
    lines = [
        "| task | backend | max_batch_size | requests | req/s | p50 ms | p95 ms | p99 ms | errors | mean batch "
        "| batch sizes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['task']} | {r['backend']} | {r['max_batch_size']} | {r['requests']} | {r['requests_per_second']:.1f} | "
        f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['errors']} | {r['mean_batch_size']:.1f} "
        f"| {' '.join(f'{k}:{v}' for k, v in r['batch_sizes'].items())} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", nargs="+", default=[], help="exported checkpoints (any task kinds)")
    parser.add_argument(
        "--tiny", default=None, help="folder: train and export a tiny checkpoint per task kind"
    )
    parser.add_argument("--backends", nargs="+", default=None, help="default: every backend the kind serves")
    parser.add_argument(
        "--batch-sizes", nargs="+", type=int, default=[1, 16], help="max_batch_size values (1: unbatched)"
    )
    parser.add_argument("--batch-timeout", type=float, default=0.01)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--budget-s", type=float, default=60.0, help="time cap for sending one configuration's requests"
    )
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of the inference worker")
    parser.add_argument(
        "--data-dir", default=os.environ.get("NLPZOO_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    )
    parser.add_argument(
        "--override", nargs="*", default=[], help="extra serve.py overrides (e.g. generation.*)"
    )
    parser.add_argument("--out", default="serve_load.json")
    args = parser.parse_args()

    data_dir = Path(args.data_dir)
    checkpoints = list(args.ckpt) + (tiny_checkpoints(Path(args.tiny), data_dir) if args.tiny else [])
    if not checkpoints:
        parser.error("give --ckpt or --tiny")
    rows: list[dict[str, Any]] = []
    results = {
        "checkpoints": checkpoints,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),  # the machine may be shared: say how busy it was
        "concurrency": args.concurrency,
        "rows": rows,
    }
    for checkpoint in checkpoints:
        kind = checkpoint_kind(checkpoint)
        payloads = payloads_for(kind, data_dir, args.requests)
        for backend in served_backends(kind, args.backends):
            for max_batch_size in args.batch_sizes:
                row = run_configuration(args, checkpoint, backend, max_batch_size, payloads)
                rows.append(row)
                Path(args.out).write_text(
                    json.dumps(results, indent=2)
                )  # rows so far, if the run is cut short
                print(
                    f"{kind.value:<20} {backend:<13} max_batch_size {max_batch_size:>3}: "
                    f"{row['requests_per_second']:7.1f} req/s  p50 {row['p50_ms']:7.1f}  p95 {row['p95_ms']:7.1f}  "
                    f"p99 {row['p99_ms']:7.1f} ms  errors {row['errors']}  batches {row['batch_sizes']}",
                    flush=True,
                )
    print(table(rows))
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
