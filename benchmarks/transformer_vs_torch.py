"""Translation training speed: nlpzoo's encoder-decoder Transformer against `torch.nn.Transformer`.

Both are the multi30k_transformer recipe's size (3+3 post-norm layers, d 256, 8 heads, FFN 512, learned
positions, untied output layer, Glorot init), trained with Adam 5e-4 and clipping 1 on the same Multi30k
batches (the recipe's DataModule, length-bucketed) for the same number of steps. nlpzoo's runs through
Lightning as `train.py` runs it; torch.nn.Transformer through a hand-written loop. Prints tokens/second of
each (source + target tokens), their ratio, and each one's teacher-forced validation loss afterwards.

    python benchmarks/transformer_vs_torch.py                     # 300 steps, 2 alternating rounds
    python benchmarks/transformer_vs_torch.py --steps 100 --rounds 1
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from torch import nn
from torch.utils.data import DataLoader

import nlpzoo.config  # noqa: F401  (registers config resolvers)
from nlpzoo.models.transformer_seq2seq import TransformerSeq2SeqModel
from nlpzoo.tasks import IGNORE_INDEX
from nlpzoo.training import build_datamodule, build_model

ROOT = Path(__file__).resolve().parents[1]


class TorchTranslator(nn.Module):
    """`torch.nn.Transformer` with the recipe's embeddings (tokens * sqrt(d) + learned positions) and output layer."""

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        max_length: int,
        dim: int,
        heads: int,
        layers: int,
        feed_forward: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.scale = math.sqrt(dim)
        self.source_tokens, self.target_tokens = (
            nn.Embedding(source_vocab, dim),
            nn.Embedding(target_vocab, dim),
        )
        self.source_positions, self.target_positions = (
            nn.Embedding(max_length, dim),
            nn.Embedding(max_length, dim),
        )
        self.dropout = nn.Dropout(dropout)
        self.transformer = nn.Transformer(
            dim, heads, layers, layers, feed_forward, dropout, activation="gelu", batch_first=True
        )
        self.out = nn.Linear(dim, target_vocab)
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def embed(self, ids: torch.Tensor, tokens: nn.Embedding, positions: nn.Embedding) -> torch.Tensor:
        return self.dropout(
            tokens(ids) * self.scale + positions(torch.arange(ids.shape[1], device=ids.device))
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Teacher-forced (B, T, V) logits of the batch's targets."""
        source, target = batch["input_ids"], batch["decoder_input_ids"]
        causal = nn.Transformer.generate_square_subsequent_mask(target.shape[1], dtype=torch.bool)
        padding = batch["attention_mask"] == 0  # (B, S) True = ignore
        hidden = self.transformer(
            self.embed(source, self.source_tokens, self.source_positions),
            self.embed(target, self.target_tokens, self.target_positions),
            tgt_mask=causal,
            tgt_is_causal=True,
            src_key_padding_mask=padding,
            memory_key_padding_mask=padding,
        )
        return self.out(hidden)


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)


def tokens_in(batches: list[dict[str, torch.Tensor]]) -> int:
    return sum(int(b["attention_mask"].sum()) + int((b["labels"] != IGNORE_INDEX).sum()) for b in batches)


@torch.no_grad()
def validation_loss(logits_of: object, batches: list[dict[str, torch.Tensor]]) -> float:
    """Token-weighted mean cross-entropy over the validation batches."""
    total, count = 0.0, 0
    for batch in batches:
        tokens = int((batch["labels"] != IGNORE_INDEX).sum())
        total += float(token_loss(logits_of(batch), batch["labels"])) * tokens
        count += tokens
    return total / count


class StepTimer(L.Callback):
    """Wall time from the start of training batch `warmup` to the end of the last batch."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.started = self.ended = 0.0

    def on_train_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: object, idx: int
    ) -> None:
        if idx == self.warmup:
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: object) -> None:
        self.ended = time.perf_counter()


def train_ours(model: TransformerSeq2SeqModel, batches: list, warmup: int) -> float:
    """Seconds for steps warmup.. of nlpzoo's module trained by Lightning, as `train.py` trains it."""
    timer = StepTimer(warmup)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=len(batches),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
        callbacks=[timer],
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(model, train_dataloaders=DataLoader(batches, batch_size=None, collate_fn=lambda batch: batch))
    return timer.ended - timer.started


def train_torch(net: TorchTranslator, batches: list, warmup: int, lr: float) -> float:
    """Seconds for steps warmup.. of a hand-written loop over torch.nn.Transformer."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, fused=True)
    net.train()
    started = 0.0
    for index, batch in enumerate(batches):
        if index == warmup:
            started = time.perf_counter()
        loss = token_loss(net(batch), batch["labels"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
    return time.perf_counter() - started


def training_batches(datamodule: L.LightningDataModule, count: int) -> list[dict[str, torch.Tensor]]:
    """The first `count` training batches, into the next epochs when one epoch holds fewer (Multi30k: 227)."""
    batches: list[dict[str, torch.Tensor]] = []
    while len(batches) < count:
        epoch = list(itertools.islice(datamodule.train_dataloader(), count - len(batches)))
        if not epoch:
            raise SystemExit("the training split has no batches")
        batches.extend(epoch)
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "multi30k")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--val-batches", type=int, default=8, help="validation batches of 128 for the loss")
    parser.add_argument("--rounds", type=int, default=2, help="alternate the two loops this many times")
    args = parser.parse_args()

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=multi30k_transformer", f"data.path={args.data}"])
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    batches = training_batches(datamodule, args.steps)
    validation = [b for _, b in zip(range(args.val_batches), datamodule.val_dataloader(), strict=False)]
    timed_tokens = tokens_in(batches[args.warmup :])
    spec, options = datamodule.spec, cfg.model

    ours_speed, torch_speed, ours_loss, torch_loss = [], [], 0.0, 0.0
    for _ in range(args.rounds):  # alternating rounds even out drift in a shared machine's speed
        torch.manual_seed(0)
        model = build_model(cfg, datamodule)
        ours_speed.append(timed_tokens / train_ours(model, batches, args.warmup))
        net = model.net.eval()
        ours_loss = validation_loss(
            lambda b, n=net: n.decode(b["decoder_input_ids"], n.encode(b["input_ids"], b["attention_mask"])),
            validation,
        )
        torch.manual_seed(0)
        plain = TorchTranslator(
            spec.vocab_size,
            spec.target_vocab_size or spec.vocab_size,
            spec.max_target_length + 1,
            options.dim,
            options.heads,
            options.encoder_layers,
            options.mlp_ratio * options.dim,
            options.dropout,
        )
        torch_speed.append(timed_tokens / train_torch(plain, batches, args.warmup, options.optimizer.lr))
        torch_loss = validation_loss(plain.eval(), validation)
    best_ours, best_torch = max(ours_speed), max(torch_speed)
    parameters = sum(p.numel() for p in model.parameters()), sum(p.numel() for p in plain.parameters())
    print(
        f"Multi30k batches of {datamodule.batch_size}, {args.steps - args.warmup} timed steps, "
        f"parameters: nlpzoo {parameters[0]:,}, torch {parameters[1]:,}"
    )
    print(
        f"torch.nn.Transformer loop : {best_torch:10,.0f} tokens/s  (rounds: {', '.join(f'{t:,.0f}' for t in torch_speed)})"
    )
    print(
        f"nlpzoo Transformer        : {best_ours:10,.0f} tokens/s  (rounds: {', '.join(f'{t:,.0f}' for t in ours_speed)})"
    )
    print(f"nlpzoo / torch            : {best_ours / best_torch:.3f}  (target >= 1.0)")
    print(
        f"validation loss after {args.steps} steps: nlpzoo {ours_loss:.4f}, torch {torch_loss:.4f} "
        f"(nlpzoo / torch {ours_loss / torch_loss:.3f}; target within 2%)"
    )


if __name__ == "__main__":
    main()
