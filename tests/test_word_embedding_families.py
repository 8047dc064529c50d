"""Word-embedding families: each loss falls, evaluation matches hand/reference computation,
vectors export to gensim's format and back, and the default experiment runs end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import scipy.stats
import torch

from nlpzoo.data import WordEmbeddingCorpus
from nlpzoo.errors import ConfigError
from nlpzoo.export import load_word2vec_format
from nlpzoo.models import FastText, GloVe, Word2Vec
from nlpzoo.models.fasttext import character_ngrams, fasttext_hash
from nlpzoo.models.huffman import huffman_paths
from nlpzoo.tasks import TaskKind, TaskSpec
from nlpzoo.tasks.word_embedding import WordEmbeddingObjective, analogy_predictions

SGD = {"_target_": "torch.optim.SGD", "lr": 0.025}
LINEAR = {"warmup_steps": 0, "decay": "linear", "min_lr_ratio": 0.004}


@pytest.fixture(scope="module")
def head_corpus() -> WordEmbeddingCorpus:
    """The first 10k words of the text8 head gensim ships, as word2vec windows."""
    module = WordEmbeddingCorpus(path="gensim:head500.noblanks.cor", max_train_words=10_000, batch_words=500)
    module.setup()
    return module


@pytest.fixture(scope="module")
def whole_head500() -> WordEmbeddingCorpus:
    """All 331k words of the text8 head, as word2vec windows of 10k words."""
    module = WordEmbeddingCorpus(path="gensim:head500.noblanks.cor")
    module.setup()
    return module


def mean_loss(model, batches) -> float:
    return float(np.mean([model.training_loss(b).item() for b in batches]))


def train_on(model: Word2Vec, batch, path: str, alpha: float = 0.025, threads: int = 2) -> float:
    """One pass of word2vec's SGD over a batch on the CPU's compiled loop or the vectorized torch
    steps (the path other devices take); returns the summed loss."""
    words, valid, targets, noise = model.examples(batch)
    alphas = [alpha] * model.sub_batches(batch)
    with torch.no_grad():
        if path == "compiled":
            return model.compiled_sgd(words, valid, targets, noise, alphas, threads)
        return model.vectorized_sgd(words, valid, targets, noise, alphas)


FAMILIES = {
    "skipgram": lambda spec, **kw: Word2Vec(spec, dim=16, optimizer=SGD, **kw),
    "cbow": lambda spec, **kw: Word2Vec(spec, architecture="cbow", dim=16, optimizer=SGD, **kw),
    "hierarchical_softmax": lambda spec, **kw: Word2Vec(
        spec, dim=16, negative=False, hierarchical_softmax=True, optimizer=SGD, **kw
    ),
    "negative_and_hierarchical_softmax": lambda spec, **kw: Word2Vec(
        spec, architecture="cbow", dim=16, hierarchical_softmax=True, optimizer=SGD, **kw
    ),
    "fasttext": lambda spec, **kw: FastText(spec, dim=16, buckets=5_000, optimizer=SGD, **kw),
}


@pytest.mark.parametrize("path", ["compiled", "vectorized"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_word2vec_family_loss_falls(head_corpus: WordEmbeddingCorpus, family: str, path: str) -> None:
    torch.manual_seed(0)
    # 7,500 examples of a 507-word vocabulary: every Huffman node lies on most paths of a large
    # sub-batch, where the vectorized steps cap its move (MAX_NODE_REPEATS); small sub-batches learn.
    model = FAMILIES[family](head_corpus.spec, sub_batch_pairs=128)
    batches = list(head_corpus.train_dataloader())
    before = mean_loss(model, batches)
    for _ in range(3):
        for batch in batches:
            train_on(model, batch, path)
    assert mean_loss(model, batches) < 0.995 * before


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_compiled_loop_makes_the_same_steps_as_torch_one_example_at_a_time(
    head_corpus: WordEmbeddingCorpus, family: str
) -> None:
    """word2vec.c's per-example loop (one thread) and the vectorized torch steps with sub-batches of
    one example are the same SGD: same losses, same tables after 200 examples (up to ~1e-5: a noise
    word drawn twice for one example is stepped twice in a row by the loop, at once by torch)."""
    batch = next(iter(head_corpus.train_dataloader()))
    examples = [x[:200] for x in Word2Vec.examples(FAMILIES[family](head_corpus.spec), batch)]
    torch.manual_seed(0)
    initial = FAMILIES[family](head_corpus.spec).state_dict()
    models = []
    for path in ("compiled", "vectorized"):
        torch.manual_seed(0)
        model = FAMILIES[family](head_corpus.spec, sub_batch_pairs=1)
        alphas = [0.025] * len(examples[2])
        with torch.no_grad():
            if path == "compiled":
                loss = model.compiled_sgd(*examples, alphas, threads=1)
            else:
                loss = model.vectorized_sgd(*examples, alphas)
        models.append((loss, model.state_dict()))
    (compiled_loss, compiled), (vectorized_loss, vectorized) = models
    assert compiled_loss == pytest.approx(vectorized_loss, rel=1e-4)
    for name, table in vectorized.items():
        assert torch.allclose(compiled[name], table, atol=5e-5), name
    assert not torch.equal(vectorized["input_vectors.weight"], initial["input_vectors.weight"])


@pytest.mark.parametrize(("path", "words"), [("compiled", None), ("vectorized", 60_000)])
def test_hierarchical_softmax_stays_finite_on_the_whole_head500(
    whole_head500: WordEmbeddingCorpus, path: str, words: int | None
) -> None:
    """Every example's Huffman path starts at the root. The compiled loop steps it once per example,
    as word2vec.c; the vectorized steps cap the root's summed step over a sub-batch (summed, it
    diverged here). Both stay finite and learn."""
    torch.manual_seed(0)
    model = Word2Vec(whole_head500.spec, dim=16, negative=False, hierarchical_softmax=True, optimizer=SGD)
    batches = list(whole_head500.train_dataloader())[: words and words // whole_head500.batch_words]
    before = mean_loss(model, batches)
    for i, batch in enumerate(batches):
        train_on(model, batch, path, alpha=0.025 * (1 - i / len(batches)))  # word2vec's linear decay
    assert all(torch.isfinite(table).all() for table in model.state_dict().values())
    assert (
        mean_loss(model, batches) < 0.995 * before
    )  # compiled 8.16 -> 8.01, vectorized 8.14 -> 8.07 measured


def test_skipgram_learns_wordsim353_through_lightning(whole_head500: WordEmbeddingCorpus) -> None:
    """The whole head500 text, 4 epochs of word2vec's SGD at dimension 50: WordSim353
    Spearman, scored by gensim, climbs above 0.15 (0.25 measured) while the loss falls."""
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    corpus = whole_head500
    torch.manual_seed(0)
    model = Word2Vec(corpus.spec, dim=50, export_format=None, optimizer=SGD, scheduler=LINEAR)

    def wordsim() -> float:
        keyed = KeyedVectors(50)
        keyed.add_vectors(model.words, model.word_vectors().detach().numpy())
        return float(keyed.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0])

    batches = list(corpus.train_dataloader())[:5]
    loss_before, wordsim_before = mean_loss(model, batches), wordsim()
    trainer = L.Trainer(
        max_epochs=4,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        enable_model_summary=False,
    )
    trainer.fit(model, train_dataloaders=corpus.train_dataloader())
    assert trainer.global_step == 4 * len(corpus.train_dataloader())
    assert mean_loss(model, batches) < 0.8 * loss_before
    assert wordsim() > max(0.15, wordsim_before + 0.1)


def test_glove_loss_falls() -> None:
    module = WordEmbeddingCorpus(
        path="gensim:head500.noblanks.cor",
        max_train_words=10_000,
        batch_format="cooccurrence",
        batch_size=4096,
    )
    module.setup()
    torch.manual_seed(0)
    model = GloVe(module.spec, dim=16)
    batches = list(module.train_dataloader())
    losses = [sum(model.adagrad_pass(batch) for batch in batches) for _ in range(4)]
    assert losses[-1] < 0.7 * losses[0]


def test_glove_adagrad_matches_torch_adagrad_on_the_same_loss() -> None:
    """The hand-written step is torch.optim.Adagrad on GloVe's summed loss (what sparse embeddings computed)."""
    module = WordEmbeddingCorpus(
        path="gensim:head500.noblanks.cor",
        max_train_words=5_000,
        batch_format="cooccurrence",
        batch_size=2048,
    )
    module.setup()
    torch.manual_seed(0)
    ours = GloVe(module.spec, dim=8, optimizer={"_target_": "torch.optim.Adagrad", "lr": 0.05})
    reference = GloVe(module.spec, dim=8)
    reference.load_state_dict(ours.state_dict())
    optimizer = torch.optim.Adagrad(reference.parameters(), lr=0.05)
    for batch in list(module.train_dataloader())[:3]:
        ours.adagrad_pass(batch)
        optimizer.zero_grad()
        (reference.training_loss(batch) * len(batch["row_ids"])).backward()
        optimizer.step()
    for name in ("word", "context", "word_bias", "context_bias"):
        assert torch.allclose(getattr(ours, name).weight, getattr(reference, name).weight, atol=1e-6), name


def test_glove_refuses_window_batches(head_corpus: WordEmbeddingCorpus) -> None:
    with pytest.raises(ConfigError, match=r"data\.batch_format=cooccurrence"):
        GloVe(head_corpus.spec)


def test_huffman_codes_are_prefix_free_and_short_for_frequent_words() -> None:
    counts = np.array([5, 9, 12, 13, 16, 45])  # the textbook example: codes of lengths 4,4,3,3,3,1
    points, codes, mask = huffman_paths(counts)
    lengths = mask.sum(1)
    assert sorted(lengths.tolist()) == [1, 3, 3, 3, 4, 4]
    assert lengths[5] == 1
    words = ["".join(str(int(c)) for c in code[m]) for code, m in zip(codes, mask, strict=True)]
    assert not any(a != b and b.startswith(a) for a in words for b in words)
    assert (points[mask] < len(counts) - 1).all()


def test_fasttext_hash_and_ngrams_match_gensim() -> None:
    from gensim.models.fasttext_inner import compute_ngrams, ft_hash_bytes

    assert character_ngrams("où", 3, 4) == compute_ngrams("où", 3, 4)
    for text in ("<wh", "été", "naïve>", "word"):
        assert fasttext_hash(text) == ft_hash_bytes(text.encode("utf-8"))


def test_fasttext_gives_unseen_words_a_vector(head_corpus: WordEmbeddingCorpus) -> None:
    model = FastText(head_corpus.spec, dim=8, buckets=1000)
    vector = model.vector_of("anarchismxyz")
    assert vector.shape == (8,) and vector.abs().sum() > 0
    assert torch.allclose(model.vector_of(model.words[3]), model.word_vectors()[3])


def hand_spec(**fields) -> TaskSpec:
    return TaskSpec(
        kind=TaskKind.WORD_EMBEDDING,
        vocab_size=5,
        words=list("abcde"),
        similarity_benchmarks=["tiny"],
        analogies=True,
        **fields,
    )


def test_similarity_spearman_and_analogy_against_hand_computation() -> None:
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 0.2]])
    objective = WordEmbeddingObjective(hand_spec(analogy_restrict_vocab=5))
    metrics = objective.metrics().clone(prefix="val/")
    pairs = torch.tensor([[0, 1], [0, 2], [0, 3], [1, 4]])
    gold = torch.tensor([1.0, 8.0, 6.0, 3.0])
    outputs = {"word_vectors": vectors}
    objective.update_metrics(
        metrics, outputs, {"pair_ids": pairs, "pair_scores": gold, "benchmark_index": torch.tensor(0)}
    )
    # cosines 0, .707, .707, .196 -> ranks 1, 3.5, 3.5, 2 against gold ranks 1, 4, 3, 2
    expected = scipy.stats.spearmanr([0.0, 0.7071, 0.7071, 0.1961], [1, 8, 6, 3]).statistic
    # a:b :: d:? -> unit(b) - unit(a) + unit(d) = (-0.29, 0.29): closest of c, e (a, b, d excluded) is e
    questions = torch.tensor([[0, 1, 3, 4], [0, 1, 3, 2]])
    assert analogy_predictions(vectors, questions, 5).tolist() == [4, 4]
    objective.update_metrics(metrics, outputs, {"analogy_ids": questions})
    computed = metrics.compute()
    assert computed["val/tiny_spearman"].item() == pytest.approx(expected, abs=1e-4)
    assert computed["val/analogy_accuracy"].item() == pytest.approx(0.5)


def test_analogy_accuracy_matches_gensim_evaluate_word_analogies(
    head_corpus: WordEmbeddingCorpus, tmp_path
) -> None:
    from gensim.models import KeyedVectors

    words = head_corpus.words[:300]
    vectors = torch.randn(300, 8, generator=torch.Generator().manual_seed(0))
    questions = [(words[i], words[i + 1], words[i + 2], words[i + 3]) for i in range(0, 200, 2)]
    (tmp_path / "q.txt").write_text(": section\n" + "\n".join(" ".join(q) for q in questions) + "\n")
    keyed = KeyedVectors(8)
    keyed.add_vectors(words, vectors.numpy())
    reference = keyed.evaluate_word_analogies(str(tmp_path / "q.txt"), restrict_vocab=300)[0]
    ids = torch.tensor([[words.index(w) for w in q] for q in questions])
    ours = (analogy_predictions(vectors, ids, 300) == ids[:, 3]).float().mean().item()
    assert ours == pytest.approx(reference)


@pytest.mark.parametrize("binary", [False, True])
def test_export_round_trips_through_gensim_keyed_vectors(
    head_corpus: WordEmbeddingCorpus, tmp_path, binary
) -> None:
    from gensim.models import KeyedVectors

    model = Word2Vec(head_corpus.spec, dim=12)
    path = model.export(tmp_path / "vectors", binary=binary)
    keyed = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert keyed.index_to_key == head_corpus.words
    assert np.allclose(keyed.vectors, model.word_vectors().detach().numpy(), atol=1e-6 if binary else 1e-5)
    words, vectors = load_word2vec_format(path, binary=binary)
    assert words == head_corpus.words and vectors.shape == (len(words), 12)


def test_default_experiment_trains_skipgram_and_reports_similarity(train_run, tmp_path: Path) -> None:
    train_run(
        [
            "experiment=text8_word2vec",
            "data.max_train_words=30000",
            "model.dim=16",
            "trainer.max_epochs=2",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
        ],
        tiny=False,
    )
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written["config"]["model"]["_target_"] == "nlpzoo.models.Word2Vec"
    assert written["config"]["data"]["window"] == 5 and written["config"]["model"]["dim"] == 16
    assert written["monitor"] == "val/wordsim353_spearman"
    assert {"val/wordsim353_spearman", "test/wordsim353_spearman", "test/analogy_accuracy"} <= written[
        "metrics"
    ].keys()
    assert (
        "val/analogy_accuracy" not in written["metrics"]
    )  # the analogies wait for the test (data.validate_analogies)
    assert written["epochs"] == 2
    assert (tmp_path / "run" / "word_vectors.bin").is_file()


def test_analogies_are_one_batch_scored_in_chunks_and_can_wait_for_the_test(monkeypatch) -> None:
    module = WordEmbeddingCorpus(
        path="gensim:head500.noblanks.cor",
        analogy_benchmark="gensim:questions-words.txt",
        similarity_benchmarks={"wordsim353": "gensim:wordsim353.tsv"},
        validate_analogies=False,
    )
    module.setup()
    val, test = list(module.val_dataloader()), list(module.test_dataloader())
    assert [sorted(b) for b in val] == [
        ["benchmark_index", "pair_ids", "pair_scores"]
    ]  # analogies wait for the test
    analogies = [b["analogy_ids"] for b in test if "analogy_ids" in b]
    assert len(analogies) == 1 and len(analogies[0]) > 1000  # every question in one batch
    vectors = torch.randn(len(module.words), 8, generator=torch.Generator().manual_seed(0))
    whole = analogy_predictions(vectors, analogies[0], 30_000)
    monkeypatch.setattr("nlpzoo.tasks.word_embedding.ANALOGY_CHUNK", 7)
    assert torch.equal(analogy_predictions(vectors, analogies[0], 30_000), whole)


def test_word_vectors_are_computed_once_per_evaluation(monkeypatch) -> None:
    corpus = WordEmbeddingCorpus(
        path="gensim:head500.noblanks.cor",
        max_train_words=20_000,
        analogy_benchmark="gensim:questions-words.txt",
        similarity_benchmarks={"wordsim353": "gensim:wordsim353.tsv", "simlex999": "gensim:simlex999.txt"},
    )
    corpus.setup()
    model = Word2Vec(corpus.spec, dim=8).eval()
    calls = []
    original = model.word_vectors
    monkeypatch.setattr(model, "word_vectors", lambda: calls.append(1) or original())
    model.on_validation_epoch_start()
    for batch in corpus.val_dataloader():
        model(batch)
    assert len(calls) == 1 and len(corpus.val_dataloader()) == 3


def test_a_large_vocabulary_builds_its_family_in_seconds(tmp_path: Path) -> None:
    """The spec carries the corpus vocabulary: built through Hydra's instantiate(cfg.model, spec=...)
    it was wrapped in config nodes and compared with them by Lightning (save_hyperparameters)."""
    from types import SimpleNamespace

    from nlpzoo.data.embedding_corpus import vocabulary_tokenizer
    from nlpzoo.training import build_model
    from tests.conftest import compose_config

    words = [f"word{i}" for i in range(20_000)]
    spec = TaskSpec(
        kind=TaskKind.WORD_EMBEDDING,
        vocab_size=len(words),
        pad_token_id=0,
        words=words,
        counts=list(range(len(words), 0, -1)),
        batch_format="cooccurrence",
    )
    corpus = SimpleNamespace(spec=spec, tokenizer=vocabulary_tokenizer(words))
    cfg = compose_config(["experiment=text8_glove", "model.dim=8"], tmp_path / "run")
    start = time.perf_counter()
    model = build_model(cfg, corpus)
    assert time.perf_counter() - start < 2  # 0.05 s; before: 9 s here (a minute for text8 under load)
    assert model.hparams["spec"]["words"][-1] == "word19999" and model.hparams["dim"] == 8
