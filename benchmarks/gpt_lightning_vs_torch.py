"""GPT training speed: nlpzoo's Lightning module against a plain PyTorch loop of the same model.

Same network, same optimizer groups, same loss (the language-modeling objective), same batches
from one DataLoader, measured in one process; prints tokens/second of each and their ratio, and each
loop's model FLOPs utilisation (MFU): its training FLOPs per second (6N + 12 L T d per token, as
nanoGPT's `estimate_mfu`) over the machine's matmul peak, measured in the same run with a large
`torch.matmul` (so MFU is against what this machine, threads and load can do, not a datasheet).

    python benchmarks/gpt_lightning_vs_torch.py                   # CPU, nanoGPT's CPU Shakespeare size
    python benchmarks/gpt_lightning_vs_torch.py --accelerator gpu --batch-size 64 --block-size 256

With `--generate`, it measures generation instead: tokens/second of sampling a whole context window
(block size) from a one-token prompt, with the key/value cache and without it (recomputing the prefix).

    OMP_NUM_THREADS=1 python benchmarks/gpt_lightning_vs_torch.py --generate --block-size 256 --batch-size 8
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from nlpzoo.models import GPTModel
from nlpzoo.models.optimization import build_optimizer
from nlpzoo.tasks import TaskKind, TaskSpec

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


def char_blocks(
    path: Path, block_size: int, count: int, seed: int
) -> tuple[list[dict[str, torch.Tensor]], int]:
    """`count` random (block_size,) windows of the text as LM examples (labels = input_ids), and the vocab size."""
    text = path.read_text(encoding="utf-8")
    vocabulary = {char: i for i, char in enumerate(sorted(set(text)))}
    ids = torch.tensor([vocabulary[char] for char in text])
    starts = torch.randint(0, len(ids) - block_size, (count,), generator=torch.Generator().manual_seed(seed))
    windows = torch.stack([ids[s : s + block_size] for s in starts.tolist()])
    examples = [{"input_ids": w, "attention_mask": torch.ones_like(w), "labels": w} for w in windows]
    return examples, len(vocabulary)


class StepTimer(L.Callback):
    """Wall time from the start of training batch `warmup` to the end of the last batch."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.started = self.ended = 0.0

    def on_train_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: object, idx: int
    ) -> None:
        if idx == self.warmup:
            synchronize(module.device)
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: object) -> None:
        synchronize(module.device)
        self.ended = time.perf_counter()


def training_flops_per_token(model: GPTModel) -> float:
    """6N + 12 L T d: forward and backward of N weights (position embeddings excluded, the tied
    head counted once) plus attention over the context T (PaLM appendix B, nanoGPT `estimate_mfu`)."""
    config = model.net.config
    positions = sum(p.numel() for name, p in model.net.named_parameters() if "position" in name)
    weights = sum(p.numel() for p in model.net.parameters()) - positions
    return 6 * weights + 12 * config.layers * config.max_length * config.dim


def matmul_peak(device: torch.device, size: int, repeats: int = 5) -> float:
    """FLOP/s of the best of `repeats` (size x size) @ (size x size) float32 matmuls on `device`."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.matmul(a, b)  # warm-up: first-call allocation, kernel choice
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        torch.matmul(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(model: GPTModel, loader: DataLoader, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds for steps warmup..steps-1 of a hand-written loop over the same network, loss and optimizer."""
    net = model.net.to(device).train()
    optimizer = build_optimizer(model.optimizer_config, model.named_parameters())
    started = 0.0
    for index, batch in enumerate(loader):
        if index == steps:
            break
        if index == warmup:
            synchronize(device)
            started = time.perf_counter()
        batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
        logits = net(batch["input_ids"])
        loss = model.objective.loss({"logits": logits}, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - started


def lightning_loop(model: GPTModel, loader: DataLoader, steps: int, warmup: int, accelerator: str) -> float:
    timer = StepTimer(warmup)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
        callbacks=[timer],
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(model, train_dataloaders=loader)
    return timer.ended - timer.started


def generation_seconds(
    model: GPTModel, batch_size: int, new_tokens: int, use_cache: bool, device: torch.device
) -> float:
    """Seconds to sample `new_tokens` after a one-token prompt for `batch_size` sequences."""
    prompt = torch.zeros(batch_size, 1, dtype=torch.long, device=device)
    model.generate(prompt, 4, use_cache=use_cache)  # warm-up: first-call allocations
    synchronize(device)
    started = time.perf_counter()
    model.generate(prompt, new_tokens, use_cache=use_cache, generator=torch.Generator(device).manual_seed(0))
    synchronize(device)
    return time.perf_counter() - started


def generation_benchmark(model: GPTModel, args: argparse.Namespace, device: torch.device) -> None:
    """Print tokens/second of generation with and without the key/value cache, best of `rounds`."""
    model = model.to(device).eval()
    new_tokens = args.block_size - 1  # the whole context window: the cache never has to be refilled
    generated = args.batch_size * new_tokens
    cached, uncached = [], []
    for _ in range(args.rounds):
        cached.append(generated / generation_seconds(model, args.batch_size, new_tokens, True, device))
        uncached.append(generated / generation_seconds(model, args.batch_size, new_tokens, False, device))
    print(
        f"device: {device}  generating {new_tokens} tokens x batch {args.batch_size} (context {args.block_size})"
    )
    print(
        f"with key/value cache   : {max(cached):12,.0f} tokens/s  (rounds: {', '.join(f'{t:,.0f}' for t in cached)})"
    )
    print(
        f"without (recompute)    : {max(uncached):12,.0f} tokens/s  (rounds: {', '.join(f'{t:,.0f}' for t in uncached)})"
    )
    print(f"cache speed-up         : {max(cached) / max(uncached):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2, help="alternate the two loops this many times")
    parser.add_argument(
        "--generate", action="store_true", help="measure generation with/without the KV cache"
    )
    parser.add_argument(
        "--peak-size", type=int, default=2048, help="side of the square matmul that measures the peak"
    )
    args = parser.parse_args()

    examples, vocab_size = char_blocks(args.text, args.block_size, args.batch_size * args.steps, seed=0)
    loader = DataLoader(examples, batch_size=args.batch_size, shuffle=False)
    spec = TaskSpec(
        kind=TaskKind.LANGUAGE_MODELING,
        vocab_size=vocab_size,
        max_length=args.block_size,
        char_level=True,
    )
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    tokens = args.batch_size * args.block_size * (args.steps - args.warmup)

    def build() -> GPTModel:
        torch.manual_seed(0)
        return GPTModel(
            spec,
            dim=args.dim,
            heads=args.heads,
            layers=args.layers,
            optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3, "weight_decay": 0.1},
        )

    if args.generate:
        torch.manual_seed(0)
        generation_benchmark(GPTModel(spec, dim=args.dim, heads=args.heads, layers=args.layers), args, device)
        return
    plain, lightning = [], []
    for _ in range(args.rounds):  # alternating rounds even out drift in a shared machine's speed
        plain.append(tokens / plain_loop(build(), loader, args.steps, args.warmup, device))
        lightning.append(tokens / lightning_loop(build(), loader, args.steps, args.warmup, args.accelerator))
    best_plain, best_lightning = max(plain), max(lightning)
    peak = matmul_peak(device, args.peak_size)  # measured after the loops: the same threads, the same load
    per_token = training_flops_per_token(build())
    print(
        f"device: {device}  batch {args.batch_size} x block {args.block_size}, {args.steps - args.warmup} timed steps"
    )
    print(
        f"matmul peak        : {peak / 1e9:12,.1f} GFLOP/s  ({args.peak_size} x {args.peak_size} float32 torch.matmul, "
        f"{torch.get_num_threads()} threads)"
    )
    print(f"model FLOPs        : {per_token / 1e6:12,.2f} MFLOP per trained token (6N + 12 L T d)")
    for name, best, rounds in (
        ("plain PyTorch loop", best_plain, plain),
        ("Lightning module  ", best_lightning, lightning),
    ):
        print(
            f"{name} : {best:12,.0f} tokens/s  MFU {100 * best * per_token / peak:5.1f}%  "
            f"(rounds: {', '.join(f'{t:,.0f}' for t in rounds)})"
        )
    print(f"Lightning / plain  : {best_lightning / best_plain:.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
