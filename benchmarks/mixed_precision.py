"""bf16-mixed against 32-true on short slices of the recurrent and Transformer recipes, with the recurrent
kernels in fp32 (the fallback for CPUs without bf16 instructions) and in autocast's bf16 (native).

    python benchmarks/mixed_precision.py [--recipes lstm gru seq2seq transformer] [--seeds 0 1] [--out FILE]

Each run is `python train.py RECIPE trainer.precision=P seed=S` in a subprocess, with
`NLPZOO_RECURRENT_FP32=1` (fallback) or `=0` (native bf16); the table gives each run's test metric,
validation loss, steps and seconds (training batches; the whole run). The Transformer has no recurrent layer, so it runs once per precision.
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
SST2 = [f"data.path={DATA / 'sst2'}", "data.max_train_samples=6000", "trainer.max_epochs=1"]
MULTI30K = [
    f"data.path={DATA / 'multi30k'}",
    "data.max_train_samples=6000",
    "data.max_val_samples=200",
    "data.max_test_samples=300",
    "trainer.max_epochs=2",
]
RECIPES: dict[str, tuple[list[str], str, bool]] = {  # name: (overrides, test metric, has recurrent layers)
    "lstm": (["experiment=sst2_lstm", *SST2], "test/acc", True),
    "gru": (["data=sst2", "tokenizer=word", "model=gru", "model.hidden_size=128", *SST2], "test/acc", True),
    "seq2seq": (
        ["experiment=multi30k_attention", "model.embedding_dim=128", "model.hidden_size=256", *MULTI30K],
        "test/bleu",
        True,
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
        False,
    ),
}
LOCK = os.environ.get("NLPZOO_TRAIN_LOCK")  # e.g. /tmp/nlpzoo-train.lock
MODES = {
    "32-true": ("32-true", None),
    "bf16 fallback": ("bf16-mixed", "1"),
    "bf16 native": ("bf16-mixed", "0"),
}


def run(recipe: str, mode: str, seed: int, work: Path) -> dict[str, float | str]:
    """One training run; its test metric, validation loss and seconds."""
    overrides, metric, _ = RECIPES[recipe]
    precision, fp32 = MODES[mode]
    run_dir = work / f"{recipe}-{mode.replace(' ', '_')}-{seed}"
    # One intra-op thread: on a shared 2-core machine two threads spin against other processes.
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    if fp32 is not None:
        environment["NLPZOO_RECURRENT_FP32"] = fp32
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
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--out", type=Path, default=None, help="jsonl file, one line per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for recipe in args.recipes:
            modes = MODES if RECIPES[recipe][2] else {m: MODES[m] for m in ("32-true", "bf16 native")}
            for seed in args.seeds:
                for mode in modes:
                    row = run(recipe, mode, seed, Path(work))
                    print(json.dumps(row), flush=True)
                    if args.out:
                        with args.out.open("a") as out:
                            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
