"""word2vec training speed and quality: nlpzoo's Word2Vec/FastText (through Lightning) vs gensim's,
same corpus, architecture, dimension, window, negatives, min_count, sample, epochs and threads, in one run.

    PYTHONPATH=src python benchmarks/word2vec_vs_gensim.py [--model skipgram|cbow|fasttext]
        [--hierarchical-softmax] [--epochs 6] [--threads 2] [--sub-batch 1024] [--corpus PATH]

Speed is words per second over the epochs only (time per epoch, not start-up); quality is
WordSim353 Spearman and Google analogy accuracy (30,000 most frequent words) from gensim's own
`evaluate_word_pairs` / `evaluate_word_analogies` on both sets of vectors.
"""

from __future__ import annotations

import argparse
import logging
import time

import lightning as L
import torch
from gensim.models import FastText as GensimFastText
from gensim.models import KeyedVectors
from gensim.models import Word2Vec as GensimWord2Vec
from gensim.models.callbacks import CallbackAny2Vec
from gensim.test.utils import datapath

from nlpzoo.data import WordEmbeddingCorpus
from nlpzoo.data.word_benchmarks import resolve_path
from nlpzoo.models import FastText, Word2Vec


class GensimEpochTimer(CallbackAny2Vec):
    """Wall time of each of gensim's training epochs."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.started = 0.0

    def on_epoch_begin(self, model) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, model) -> None:
        self.seconds.append(time.perf_counter() - self.started)


class LightningEpochTimer(L.Callback):
    """Wall time of each Lightning training epoch."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.started = 0.0

    def on_train_epoch_start(self, trainer, module) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer, module) -> None:
        self.seconds.append(time.perf_counter() - self.started)


def quality(words: list[str], vectors) -> tuple[float, float]:
    """WordSim353 Spearman and analogy accuracy of vectors (V, D), scored by gensim."""
    keyed = KeyedVectors(vectors.shape[1])
    keyed.add_vectors(words, vectors)
    similarity = float(keyed.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0])
    analogies = float(
        keyed.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=30_000)[0]
    )
    return similarity, analogies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="gensim:head500.noblanks.cor")
    parser.add_argument(
        "--model",
        choices=["skipgram", "cbow", "fasttext"],
        default="skipgram",
        help="fasttext: skip-gram over words and character 3..6-grams in 2M buckets",
    )
    parser.add_argument(
        "--hierarchical-softmax", action="store_true", help="hierarchical softmax instead of negatives"
    )
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negatives", type=int, default=5)
    parser.add_argument("--batch-words", type=int, default=10_000)
    parser.add_argument("--sub-batch", type=int, default=1024, help="model.sub_batch_pairs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    corpus = WordEmbeddingCorpus(
        path=args.corpus, window=args.window, negatives=args.negatives, batch_words=args.batch_words
    )
    corpus.setup()
    sentences = list(corpus.sentences())  # the same sentences for gensim
    words_per_epoch = sum(len(s) for s in sentences)

    hs = args.hierarchical_softmax
    gensim_timer = GensimEpochTimer()
    reference_class = GensimFastText if args.model == "fasttext" else GensimWord2Vec
    reference = reference_class(
        sentences,
        vector_size=args.dim,
        window=args.window,
        negative=0 if hs else args.negatives,
        hs=int(hs),
        min_count=5,
        sample=1e-3,
        sg=int(args.model != "cbow"),
        workers=args.threads,
        epochs=args.epochs,
        callbacks=[gensim_timer],
        seed=1,
    )

    timer = LightningEpochTimer()
    model_class = FastText if args.model == "fasttext" else Word2Vec
    model = model_class(
        corpus.spec,
        architecture="cbow" if args.model == "cbow" else "skipgram",
        dim=args.dim,
        negative=not hs,
        hierarchical_softmax=hs,
        export_format=None,
        sub_batch_pairs=args.sub_batch,
        optimizer={"_target_": "torch.optim.SGD", "lr": 0.025},
        scheduler={"warmup_steps": 0, "decay": "linear", "min_lr_ratio": 0.004},
    )
    trainer = L.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        callbacks=[timer],
        enable_model_summary=False,
    )
    trainer.fit(model, train_dataloaders=corpus.train_dataloader())

    ours_speed = words_per_epoch / (sum(timer.seconds) / len(timer.seconds))
    gensim_speed = words_per_epoch / (sum(gensim_timer.seconds) / len(gensim_timer.seconds))
    with torch.no_grad():
        ours_similarity, ours_analogy = quality(model.words, model.word_vectors().numpy())
    gensim_similarity, gensim_analogy = quality(list(reference.wv.index_to_key), reference.wv.vectors)
    print(
        f"corpus {resolve_path(args.corpus) if args.corpus.startswith('gensim:') else args.corpus}: "
        f"{words_per_epoch} words/epoch, {args.epochs} epochs, {args.threads} threads, {args.model}"
        f"{' hierarchical softmax' if hs else f' {args.negatives} negatives'}"
    )
    print(
        f"gensim  {gensim_speed:10.0f} words/s  ({sum(gensim_timer.seconds) / args.epochs:.2f} s/epoch)  "
        f"WordSim353 {gensim_similarity:.3f}  analogy {gensim_analogy:.3f}"
    )
    print(
        f"nlpzoo  {ours_speed:10.0f} words/s  ({sum(timer.seconds) / args.epochs:.2f} s/epoch)  "
        f"WordSim353 {ours_similarity:.3f}  analogy {ours_analogy:.3f}"
    )
    print(
        f"speed ratio nlpzoo/gensim {ours_speed / gensim_speed:.2f}; "
        f"quality gap {ours_similarity - gensim_similarity:+.3f}"
    )


if __name__ == "__main__":
    main()
