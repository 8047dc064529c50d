"""Sequence packing against one line per row: padding fraction and training tokens/s of the same GPT.

    python benchmarks/packing.py [--corpora wikitext2 tinyshakespeare] [--steps 150] [--out FILE]

Each run is `python train.py model=gpt data=CORPUS data.sampling=examples` (one line per row, padded per
batch) or `data.packing=true` (lines packed per block, attention kept inside each line) in a subprocess,
for the first `--steps` batches of one epoch; it prints the summary's padding fractions, real (non-padding) training
tokens/s and validation perplexity as one json line per run. Results in the README.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
QUIET = ["trainer.enable_progress_bar=false", "callbacks.rich_progress_bar=null", "logger=csv", "test=false"]
CORPORA = {
    # valid.txt as the training text (the local copy has no train.txt): 3,760 paragraphs and headings
    "wikitext2": ["data=wikitext2", "tokenizer.lowercase=false", "tokenizer.max_vocab_size=40000"],
    "tinyshakespeare": ["data=tinyshakespeare", f"data.path={DATA / 'tinyshakespeare'}"],
}
MODES = {"one line per row": ["data.sampling=examples"], "packed": ["data.packing=true"]}


def run(corpus: str, mode: str, steps: int, block_size: int, batch_size: int) -> dict[str, object]:
    """One short training run; its summary's padding, throughput and validation perplexity."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            "train.py",
            "model=gpt",
            "tokenizer=word",
            *CORPORA[corpus],
            *MODES[mode],
            f"data.block_size={block_size}",
            f"data.batch_size={batch_size}",
            f"+trainer.limit_train_batches={steps}",
            "trainer.max_epochs=1",
            "data.max_val_samples=400",
            *QUIET,
            f"hydra.run.dir={folder}",
        ]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        summary = json.loads((Path(folder) / "summary.json").read_text())
    return {
        "corpus": corpus,
        "mode": mode,
        "steps": summary["global_steps"],
        "padding_fraction": round(summary["padding_fraction"], 3),
        "padding_fraction_unpacked": round(
            summary.get("padding_fraction_unpacked", summary["padding_fraction"]), 3
        ),
        "train_tokens_per_second": round(summary["throughput"]["train_tokens_per_second"]),
        "val_ppl": round(summary["metrics"]["val/ppl"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for corpus in args.corpora:
        for mode in MODES:
            rows.append(run(corpus, mode, args.steps, args.block_size, args.batch_size))
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
