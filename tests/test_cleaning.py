"""data.cleaning: each repair and filter on hand-made strings, and the stage inside a real training run."""

# ruff: noqa: RUF001  (full-width letters and curly quotes are the inputs under test)

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import pytest

from nlpzoo.data.cleaning import (
    Cleaning,
    fix_mojibake,
    normalize_unicode,
    remove_control_characters,
    repair_whitespace,
)

SENTENCE = (  # thirty words
    "the film opens with a long quiet shot of the harbour at dawn and then follows two brothers "
    "who return to the village after their father dies leaving the boat"
)


def clean(cleaning: Cleaning, splits: dict[str, list[str]]) -> dict[str, list[str]]:
    """Run the stage over splits of one `text` column and give the texts back."""
    data = {split: datasets.Dataset.from_dict({"text": texts}) for split, texts in splits.items()}
    out = cleaning.apply(data, {split: ["text"] for split in data})
    return {split: dataset["text"] for split, dataset in out.items()}


def test_text_repairs() -> None:
    assert fix_mojibake("cafÃ©") == "café"
    assert fix_mojibake("Itâ€™s") == "It’s"
    assert normalize_unicode("１２３ ＡＢＣ ﬁne") == "123 ABC fine"
    assert remove_control_characters("a\x00b\x1bc\u200bd\ufeff\te\nf") == "abcd\te\nf"
    assert repair_whitespace("  two\t\tspaces \u00a0here \r\n\n\n\nnext  ") == "two spaces here\n\nnext"


def test_repairs_change_every_split_and_are_counted() -> None:
    cleaning = Cleaning(exact_duplicates=False, leakage=False)
    out = clean(cleaning, {"train": ["cafÃ©  ok"], "validation": ["１２３"], "test": ["fine"]})
    assert out == {"train": ["café ok"], "validation": ["123"], "test": ["fine"]}
    train = cleaning.report["splits"]["train"]
    assert train["fix_mojibake"]["changed"] == 1 and train["repair_whitespace"]["changed"] == 1
    assert train["fix_mojibake"]["examples"] == [{"before": "cafÃ©  ok", "after": "café  ok"}]  # its own step


def test_exact_duplicates_after_repair_keep_the_first() -> None:
    cleaning = Cleaning(leakage=False)
    out = clean(
        cleaning, {"train": ["a good film", "a  good film", "a bad film", "a good film"], "test": ["x"]}
    )
    assert out["train"] == ["a good film", "a bad film"]
    assert cleaning.report["splits"]["train"]["exact_duplicates"]["removed"] == 2


def test_near_duplicate_removed_and_different_sentence_kept() -> None:
    words = SENTENCE.split()
    assert len(words) == 30
    changed = [*words]
    changed[17] = "sisters"  # "brothers" -> "sisters": one word of thirty
    other = "an awkward comedy about a wedding planner whose clients keep cancelling at the last minute"
    cleaning = Cleaning(near_duplicates=True, leakage=False)
    out = clean(cleaning, {"train": [SENTENCE, " ".join(changed), other], "test": ["x"]})
    assert out["train"] == [SENTENCE, other]
    removed = cleaning.report["splits"]["train"]["near_duplicates"]
    assert removed["removed"] == 1 and removed["examples"][0]["like"] == SENTENCE
    # off by default: both stay
    assert len(clean(Cleaning(leakage=False), {"train": [SENTENCE, " ".join(changed)]})["train"]) == 2


def test_leakage_removes_train_examples_seen_in_validation_or_test() -> None:
    cleaning = Cleaning()
    out = clean(
        cleaning,
        {
            "train": ["seen in dev", "fresh", "seen  in test"],
            "validation": ["seen in dev"],
            "test": ["seen in test"],
        },
    )
    assert out == {"train": ["fresh"], "validation": ["seen in dev"], "test": ["seen in test"]}
    assert cleaning.report["splits"]["train"]["leakage"]["removed"] == 2


def test_near_leakage_removes_train_inputs_that_nearly_match_a_held_out_one() -> None:
    words = SENTENCE.split()
    changed = [*words]
    changed[17] = "sisters"  # one word of thirty differs from the test sentence
    cleaning = Cleaning(near_duplicates=True)
    out = clean(cleaning, {"train": [" ".join(changed), "fresh and unrelated"], "test": [SENTENCE]})
    assert out["train"] == ["fresh and unrelated"]
    removed = cleaning.report["splits"]["train"]["near_leakage"]
    assert removed["removed"] == 1 and removed["examples"][0]["like"] == SENTENCE
    # leakage off: the near match stays
    assert (
        len(
            clean(
                Cleaning(near_duplicates=True, leakage=False),
                {"train": [" ".join(changed)], "test": [SENTENCE]},
            )["train"]
        )
        == 1
    )


def test_language_filter_drops_confident_other_languages_only() -> None:
    english = "the film opens with a long quiet shot of the harbour at dawn"
    german = "der Film beginnt mit einer langen ruhigen Einstellung des Hafens im Morgengrauen"
    french = "le film commence par un long plan silencieux du port à l'aube"
    cleaning = Cleaning(languages=["en"], leakage=False)
    out = clean(cleaning, {"train": [english, german, french, "ok"], "test": [german]})
    assert out["train"] == [english, "ok"]  # "ok": too short for a confident guess, kept
    assert out["test"] == [german]  # evaluation splits stay as published
    removed = cleaning.report["splits"]["train"]["language"]
    assert removed["removed"] == 2
    assert [example["language"][:2] for example in removed["examples"]] == ["de", "fr"]


def test_length_filter_in_words_only_on_filter_splits() -> None:
    cleaning = Cleaning(min_words=2, max_words=3, leakage=False)
    out = clean(cleaning, {"train": ["one", "two words", "four words are many"], "test": ["one"]})
    assert out == {"train": ["two words"], "test": ["one"]}  # test stays as published
    assert cleaning.report["splits"]["train"]["length"]["removed"] == 2


def test_token_lists_keep_their_length() -> None:
    """Token classification: each token repaired alone, one that repairs to nothing kept as it was."""
    data = {
        "train": datasets.Dataset.from_dict({"tokens": [["cafÃ©", "\u200b", "ＥＵ"]], "tags": [[0, 0, 1]]})
    }
    out = Cleaning(leakage=False).apply(data, {"train": ["tokens"]})
    assert out["train"]["tokens"] == [["café", "\u200b", "EU"]]
    assert out["train"]["tags"] == [[0, 0, 1]]


def test_training_run_writes_the_cleaning_report(
    train_run: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    """`python train.py data=sst2 +data/cleaning=default` on a slice: the report lands in the run directory."""
    run_dir = tmp_path / "run"
    summary = train_run(
        ["data=sst2", "+data/cleaning=default", "data.cleaning.near_duplicates=true"], output_dir=run_dir
    )
    report = json.loads((run_dir / "cleaning_report.json").read_text())
    assert set(report["splits"]) == {"train", "validation", "test"}
    train = report["splits"]["train"]
    assert train["rows_before"] == 256 and train["rows_after"] <= 256
    assert report["splits"]["validation"]["rows_after"] == 64  # evaluation splits are never filtered
    # the tracker (the CSV logger's hparams.yaml) and summary.json carry the counts too
    assert summary["cleaning"]["train/rows_after"] == train["rows_after"]
    assert "cleaning_report" in (run_dir / "csv" / "hparams.yaml").read_text()


def test_evaluation_keeps_the_training_runs_report(tmp_path: Path) -> None:
    """eval.py cleans its split the same way but does not overwrite the report of the run it evaluates."""
    from nlpzoo.evaluation import evaluation_data_config

    report = str(tmp_path / "run" / "cleaning_report.json")
    stored = {
        "_target_": "nlpzoo.data.TextClassificationData",
        "path": str(tmp_path),
        "cleaning": {"_target_": "nlpzoo.data.cleaning.Cleaning", "leakage": True, "report_path": report},
    }
    data = evaluation_data_config(None, stored)
    assert data.cleaning.report_path is None and data.cleaning.leakage is True


def test_word_embedding_corpus_refuses_cleaning(shared_data: Path) -> None:
    """The one DataModule that streams its corpus past the stage says so instead of ignoring the block."""
    from nlpzoo.data.embedding_corpus import WordEmbeddingCorpus
    from nlpzoo.errors import DataError

    with pytest.raises(DataError, match="cleaning is not supported"):
        WordEmbeddingCorpus(path=str(shared_data / "wikitext-2"), cleaning=Cleaning())
