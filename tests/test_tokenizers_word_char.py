"""Word and character tokenizers: trained on text, round-trip, and travel inside checkpoints."""

from __future__ import annotations

from nlpzoo.tokenizers import CharTokenizer, WordTokenizer, tokenizer_from_files, tokenizer_to_files

TEXTS = ["the movie was great .", "the plot was thin , the acting great", "great great fun"]


def test_word_tokenizer_round_trips_known_words_and_maps_rare_ones_to_unk() -> None:
    tokenizer = WordTokenizer(min_frequency=2).build(TEXTS)
    ids = tokenizer("the movie was great")["input_ids"]
    assert tokenizer.decode(ids) == "the [UNK] was great"  # "movie" occurs once: below min_frequency
    assert tokenizer.convert_ids_to_tokens(ids) == ["the", "[UNK]", "was", "great"]
    assert tokenizer.pad_token_id == 0 and tokenizer.unk_token_id == 1


def test_word_tokenizer_respects_max_vocab_size_and_lowercases() -> None:
    tokenizer = WordTokenizer(max_vocab_size=9).build(TEXTS)
    assert len(tokenizer) == 9  # 7 special tokens + the two most frequent words
    assert set(tokenizer.get_vocab()) >= {"great", "the"}
    assert tokenizer("GREAT The")["input_ids"] == tokenizer("great the")["input_ids"]


def test_char_tokenizer_round_trips_text_exactly() -> None:
    tokenizer = CharTokenizer().build(["First Citizen:\nBefore we proceed any further, hear me speak."])
    text = "Before we  speak,\nhear me."
    ids = tokenizer(text)["input_ids"]
    assert len(ids) == len(text)
    assert tokenizer.decode(ids) == text


def test_tokenizer_travels_as_files_and_reloads_identically() -> None:
    for recipe in (WordTokenizer(), CharTokenizer()):
        tokenizer = recipe.build(TEXTS)
        reloaded = tokenizer_from_files(tokenizer_to_files(tokenizer))
        assert reloaded.get_vocab() == tokenizer.get_vocab()
        assert reloaded(TEXTS)["input_ids"] == tokenizer(TEXTS)["input_ids"]
        assert reloaded.pad_token_id == tokenizer.pad_token_id
