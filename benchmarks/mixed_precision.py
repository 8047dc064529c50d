"""bf16-mixed against 32-true on short slices of the recurrent and Transformer recipes, with the recurrent
kernels in fp32 (the fallback for CPUs without bf16 instructions) and in autocast's bf16 (native).

    python benchmarks/mixed_precision.py [--recipes lstm gru seq2seq transformer] [--modes ...] [--seeds 0 1] [--out FILE]

Each run is `python train.py RECIPE trainer.precision=P seed=S` in a subprocess. The fallback runs as on
an AVX2-only CPU (oneDNN capped at AVX2, ATen's AVX2 kernels) with `NLPZOO_RECURRENT_FP32=1`; native
bf16 with `=0` (this needs AVX512-BF16 or AMX). Each run's test metric, validation loss, steps and
seconds (training batches; the whole run) are printed as one json line. The Transformer has no
recurrent layer: its two bf16 runs differ only in the CPU kernels.

Measured (December 2026, shared 2-core AMD EPYC with AVX512-BF16, one thread per run; test metric /
validation loss, for 32-true | bf16 fallback as on AVX2 | bf16 native):

    lstm  seed 0   acc 0.664 / 0.6084 | 0.662 / 0.6087 | 0.662 / 0.6095
          seed 1   acc 0.656 / 0.6144 | 0.658 / 0.6146 | 0.659 / 0.6144
    gru   seed 0   acc 0.653 / 0.6261 | 0.655 / 0.6258 | 0.655 / 0.6267
          seed 1   acc 0.645 / 0.6252 | 0.648 / 0.6251 | 0.646 / 0.6258
    seq2seq        BLEU 4.90 / 4.9771 | 4.82 / 4.9769 | 4.90 / 4.9771   (training 75 s | 497 s | 72 s)
    transformer    BLEU 1.43 / 4.4795 | 1.49 / 4.4795 | 1.49 / 4.4796   (training 92 s | 1143 s | 16-63 s)

The same within seed noise everywhere. On AVX2, bf16 matrix products have no fast kernel: the seq2seq
and Transformer runs trained 7x and 12x slower than fp32 there, so 32-true is the faster choice on
such CPUs (timings on a shared machine: inflated and noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
QUIET = ["trainer.enable_progress_bar=false", "callbacks.rich_progress_bar=null", "logger=csv"]
SST2 = [f"data.path={DATA / 'sst2'}", "data.max_train_samples=12000", "trainer.max_epochs=1"]
MULTI30K = [
    f"data.path={DATA / 'multi30k'}",
    "data.max_train_samples=2560",
    "data.max_val_samples=100",
    "data.max_test_samples=200",
    "data.batch_size=64",
    "trainer.max_epochs=1",
]
RECIPES: dict[str, tuple[list[str], str]] = {  # name: (overrides, test metric)
    "lstm": (["experiment=sst2_lstm", *SST2], "test/acc"),
    "gru": (["data=sst2", "tokenizer=word", "model=gru", "model.hidden_size=128", *SST2], "test/acc"),
    "seq2seq": (
        ["experiment=multi30k_attention", "model.embedding_dim=128", "model.hidden_size=256", *MULTI30K],
        "test/bleu",
    ),
    "transformer": (
        [
            "experiment=multi30k_transformer",
            "model.encoder_layers=2",
            "model.decoder_layers=2",
            "model.beam_size=1",
            *MULTI30K,
        ],
        "test/bleu",
    ),
}
LOCK = os.environ.get("NLPZOO_TRAIN_LOCK")  # e.g. /tmp/nlpzoo-train.lock
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}  # kernels as on an AVX2-only CPU
MODES: dict[str, tuple[str, dict[str, str]]] = {  # name: (trainer.precision, environment)
    "32-true": ("32-true", {}),
    "bf16 fallback": ("bf16-mixed", {"NLPZOO_RECURRENT_FP32": "1", **AVX2_ONLY}),
    "bf16 native": ("bf16-mixed", {"NLPZOO_RECURRENT_FP32": "0"}),
}


def run(recipe: str, mode: str, seed: int, work: Path) -> dict[str, float | str]:
    """One training run; its test metric, validation loss and seconds."""
    overrides, metric = RECIPES[recipe]
    precision, mode_environment = MODES[mode]
    run_dir = work / f"{recipe}-{mode.replace(' ', '_')}-{seed}"
    # One intra-op thread: on a shared 2-core machine two threads spin against other processes.
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    environment.update(mode_environment)
    lock = ["flock", str(LOCK)] if LOCK else []  # a shared machine: one training run at a time
    command = [
        *lock,
        sys.executable,
        "train.py",
        *overrides,
        *QUIET,
        f"trainer.precision={precision}",
        f"seed={seed}",
        f"hydra.run.dir={run_dir}",
    ]
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        return {"recipe": recipe, "mode": mode, "seed": seed, "error": result.stderr[-500:]}
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "recipe": recipe,
        "mode": mode,
        "seed": seed,
        "metric": metric,
        "test": summary["metrics"][metric],
        "val_loss": summary["metrics"]["val/loss"],
        "steps": summary["global_steps"],
        "train_batch_seconds": round(summary["throughput"]["train_batch_seconds"], 1),
        "wall_seconds": round(summary["wall_seconds"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--out", type=Path, default=None, help="jsonl file, one line per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for recipe in args.recipes:
            for seed in args.seeds:
                for mode in args.modes:
                    row = run(recipe, mode, seed, Path(work))
                    print(json.dumps(row), flush=True)
                    if args.out:
                        with args.out.open("a") as out:
                            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
