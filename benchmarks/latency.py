"""Latency and throughput of one exported checkpoint on every CPU backend, on the same inputs, in one run.

    python benchmarks/latency.py --ckpt PATH [--server-backend onnx_int8] [--out latency.json]

Every kind export.py exports to ONNX: classifiers, taggers, extractive QA. For each backend (PyTorch
eager, torch.compile, PyTorch int8, ONNX Runtime fp32 and int8), batch size (1, 8, 32) and sequence
length (32, 128): p50/p95 latency per model call and examples/second. Inputs are real text of the
kind (SST-2 dev sentences, CoNLL sentences, SQuAD questions with their contexts), joined until they
fill the length and encoded by the checkpoint's own predictor, so no position is padding; a length
over the model's max_length is skipped. Then the served path: `serve.py` on a loopback port, a fixed
number of requests of the kind from a few threads, end-to-end p50/p95 and requests/second.
Run `export.py` on the checkpoint first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from serve_load import payloads_for  # this folder's load test: real requests of each task kind

from nlpzoo.checkpoint import load_module
from nlpzoo.errors import UnsupportedTaskError
from nlpzoo.export.pipeline import EXPORTED_KINDS
from nlpzoo.export.runtime import MODEL_INPUTS, Arrays, build_backend, export_dir_for
from nlpzoo.prediction import Predictor, predictor_for
from nlpzoo.serve.drift_statistics import GENERATING
from nlpzoo.serve.launch import load_test, running_server
from nlpzoo.tasks import TaskKind

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BACKENDS = ["torch", "torch_compile", "torch_int8", "onnx", "onnx_int8"]


def long_examples(kind: TaskKind, data_dir: Path, batch: int, words: int) -> list[Any]:
    """`batch` examples of at least `words` words each: consecutive texts of the kind joined (QA: one
    question over consecutive contexts joined)."""
    rows = payloads_for(kind, data_dir, 20 * batch)
    texts = [row["context"] if isinstance(row, dict) else row for row in rows]
    examples, index = [], 0
    for _ in range(batch):
        joined: list[str] = []
        while len(joined) < words:
            joined += texts[index % len(texts)].split()
            index += 1
        text = " ".join(joined)
        examples.append(
            {**rows[index % len(rows)], "context": text} if kind is TaskKind.EXTRACTIVE_QA else text
        )
    return examples


def filled_inputs(predictor: Predictor, examples: list[Any], batch: int, length: int) -> Arrays | None:
    """`batch` rows of exactly `length` real tokens, encoded as the predictor encodes them (QA: the first
    windows), then cut; None when `length` is over the model's max_length."""
    if length > predictor.module.spec.max_length:
        return None
    encoded = predictor.encode(examples)
    full = encoded["attention_mask"][:, :length].cpu().bool().all(-1).nonzero().flatten()[:batch]  # (batch,)
    if len(full) < batch:
        raise RuntimeError(f"only {len(full)} encoded rows have {length} tokens; join longer texts")
    return {
        key: np.asarray(encoded[key][full, :length].cpu(), dtype=np.int64)
        for key in MODEL_INPUTS
        if key in encoded
    }


def time_backend(
    backend: Any, inputs: Arrays, warmup: int, repeats: int, budget_s: float
) -> dict[str, float]:
    """p50/p95 milliseconds per call and examples/second over `repeats` calls (fewer if the budget runs out)."""
    for _ in range(warmup):
        backend(inputs)
    timings: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(timings) < repeats and (len(timings) < 3 or time.perf_counter() < deadline):
        started = time.perf_counter()
        backend(inputs)
        timings.append(time.perf_counter() - started)
    milliseconds = 1000 * np.asarray(timings)
    batch = len(inputs["input_ids"])
    return {
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p95_ms": float(np.percentile(milliseconds, 95)),
        "examples_per_second": batch / float(np.mean(timings)),
        "calls": len(timings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--export-dir", default=None)
    parser.add_argument("--backends", nargs="+", default=DEFAULT_BACKENDS)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--lengths", nargs="+", type=int, default=[32, 128])
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads for PyTorch and ONNX Runtime alike"
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--budget-s", type=float, default=10.0, help="time cap per (backend, batch, length)")
    parser.add_argument(
        "--data-dir", default=os.environ.get("NLPZOO_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    )
    parser.add_argument(
        "--server-backend", default="onnx_int8", help="backend of the served path; 'none' skips it"
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", default="latency.json")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()  # the machine may be shared: say how busy it was
    loaded = load_module(args.ckpt)
    kind = loaded.module.spec.kind
    if kind not in EXPORTED_KINDS or kind in GENERATING:
        raise UnsupportedTaskError(f"latency.py times the ONNX-exported kinds; {args.ckpt} is {kind.value}")
    folder = export_dir_for(args.ckpt, args.export_dir)
    data_dir = Path(args.data_dir)
    predictor = predictor_for(loaded)
    inputs = {}
    for b in args.batch_sizes:
        for n in args.lengths:
            arrays = filled_inputs(predictor, long_examples(kind, data_dir, b, 2 * n), b, n)
            if arrays is None:
                print(f"length {n} skipped: over the model's max_length {loaded.module.spec.max_length}")
            else:
                inputs[(b, n)] = arrays
    rows = []
    for name in args.backends:
        backend = build_backend(name, loaded.module, folder, args.threads)
        for (batch, length), arrays in inputs.items():
            row = {
                "backend": name,
                "batch": batch,
                "length": length,
                **time_backend(backend, arrays, args.warmup, args.repeats, args.budget_s),
            }
            rows.append(row)
            print(
                f"{name:<14} batch {batch:>3} length {length:>4}: p50 {row['p50_ms']:8.2f} ms  "
                f"p95 {row['p95_ms']:8.2f} ms  {row['examples_per_second']:9.1f} ex/s",
                flush=True,
            )
    results: dict[str, Any] = {
        "checkpoint": args.ckpt,
        "family": loaded.module.family,
        "task": kind.value,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "load_average_at_start": load_at_start,
        "rows": rows,
    }
    if args.server_backend != "none":
        with tempfile.TemporaryDirectory() as run_dir:
            overrides = [
                f"ckpt_path={args.ckpt}",
                f"backend={args.server_backend}",
                "drift.log_every=100000",
                f"threads={args.threads}",
                f"hydra.run.dir={run_dir}",
            ] + ([f"export_dir={args.export_dir}"] if args.export_dir else [])
            with running_server(overrides, Path(run_dir) / "server.log") as url:
                requests = payloads_for(kind, data_dir, args.requests)
                load_test(url, requests[:20], args.concurrency)  # warm-up
                results["served"] = {
                    "backend": args.server_backend,
                    **load_test(url, requests, args.concurrency),
                }
        served = results["served"]
        print(
            f"served ({args.server_backend}, {served['requests']} requests, {args.concurrency} threads): "
            f"p50 {served['p50_ms']:.1f} ms  p95 {served['p95_ms']:.1f} ms  {served['requests_per_second']:.1f} req/s"
        )
    print(table(rows))
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"saved {args.out}")


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table: one line per backend x batch x length."""
    lines = ["| backend | batch | length | p50 ms | p95 ms | examples/s |", "|---|---:|---:|---:|---:|---:|"]
    lines += [
        f"| {r['backend']} | {r['batch']} | {r['length']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
        f"{r['examples_per_second']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
