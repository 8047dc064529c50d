"""`eval.py`: a checkpoint scored on any split of its own data, of another data config, or of a user's file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import nlpzoo
from nlpzoo.errors import ConfigError, DataError, UnsupportedTaskError
from nlpzoo.evaluation import run_evaluation
from tests.conftest import ROOT, TINY, compose_config, python

USER_ROWS = [
    (1, "a gorgeous , witty , seductive movie ."),
    (0, "the plot is nothing but boilerplate clichés from start to finish"),
    (1, "an utterly charming and hilarious film"),
    (0, "dull , lifeless and far too long"),
    (1, "one of the best films of the year"),
    (0, "a mess of a movie that never finds its footing"),
    (0, "the acting is wooden and the jokes fall flat"),
]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, dict]:
    """One tiny LSTM trained on an SST-2 slice, shared by this module's tests."""
    from nlpzoo.training import run_training

    run_dir = tmp_path_factory.mktemp("evaluation") / "run"
    overrides = [*TINY, f"data.path={shared_data / 'sst2'}", "data.max_train_samples=512"]
    return run_dir, run_training(compose_config(overrides, run_dir))


def evaluate(overrides: list[str], output_dir: Path) -> dict:
    return run_evaluation(
        compose_config(["trainer.enable_progress_bar=false", *overrides], output_dir, config_name="eval")
    )


def eval_cli(*overrides: str, run_dir: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [
            python(),
            "eval.py",
            *overrides,
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_eval_script_scores_a_users_tsv_file_whole(trained_run, tmp_path: Path) -> None:
    run_dir, _ = trained_run
    reviews = tmp_path / "my_reviews.tsv"
    reviews.write_text("label\tsentence\n" + "".join(f"{label}\t{text}\n" for label, text in USER_ROWS))

    # data.path= as train.py takes it (no Hydra `+`): it patches the checkpoint's stored data config.
    result = eval_cli(f"ckpt_path={run_dir}", f"data.path={reviews}", run_dir=tmp_path / "eval")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["examples"] == len(USER_ROWS)  # every row: nothing carved off for validation
    assert summary["data"] == str(reviews)
    assert f"evaluated {len(USER_ROWS)} examples of the test split ({reviews})" in result.stdout

    # The accuracy counted by hand from the same checkpoint's predictions.
    predictions = nlpzoo.load(run_dir).predict([text for _, text in USER_ROWS])
    correct = sum(p["label_id"] == label for p, (label, _) in zip(predictions, USER_ROWS, strict=True))
    assert summary["metrics"]["test/acc"] == pytest.approx(correct / len(USER_ROWS))
    assert (tmp_path / "eval" / "plots" / "confusion_matrix_test.png").stat().st_size > 1000


def test_evaluation_reads_whole_splits_not_the_training_runs_slices(
    trained_run, tmp_path: Path, capsys
) -> None:
    """The checkpoint was trained with data.max_test_samples=64: eval.py scores all 1,821 test sentences."""
    best = trained_run[1]["best_checkpoint"]
    whole = evaluate([f"ckpt_path={best}"], tmp_path / "test")
    assert (whole["examples"], whole["max_samples"]) == (1821, None)
    assert "evaluated 1821 examples of the test split" in capsys.readouterr().out
    assert json.loads((tmp_path / "test" / "summary.json").read_text())["examples"] == 1821

    sliced = evaluate([f"ckpt_path={best}", "data.max_test_samples=100"], tmp_path / "sliced")
    assert (sliced["examples"], sliced["max_samples"]) == (100, 100)
    out = capsys.readouterr().out
    assert "evaluated 100 examples of the test split" in out and "limited by data.max_test_samples=100" in out


def test_each_split_of_the_training_data_reproduces_what_training_measured(
    trained_run, tmp_path: Path
) -> None:
    trained = trained_run[1]
    best = trained["best_checkpoint"]
    # The slices training measured, given on the eval command line as train.py took them.
    test = evaluate([f"ckpt_path={best}", "data.max_test_samples=64"], tmp_path / "test")
    assert test["metrics"]["test/acc"] == pytest.approx(trained["metrics"]["test/acc"])
    assert test["metrics"]["test/loss"] == pytest.approx(trained["metrics"]["test/loss"], rel=1e-5)

    validation = evaluate(
        [f"ckpt_path={best}", "split=validation", "data.max_val_samples=64"], tmp_path / "validation"
    )
    assert validation["metrics"]["val/acc"] == pytest.approx(trained["metrics"]["val/acc"])
    assert validation["examples"] == 64

    train = evaluate([f"ckpt_path={best}", "split=train", "data.max_train_samples=512"], tmp_path / "train")
    assert train["examples"] == 512
    assert set(train["metrics"]) == {"train/acc", "train/f1_macro", "train/f1_micro", "train/loss"}

    with pytest.raises(ConfigError, match=r"unknown config key 'data\.max_tset_samples'"):
        evaluate([f"ckpt_path={best}", "data.max_tset_samples=64"], tmp_path / "typo")


def test_another_data_config_replaces_the_checkpoints(trained_run, tmp_path: Path, shared_data: Path) -> None:
    best = trained_run[1]["best_checkpoint"]
    full_dev = evaluate(
        [
            f"ckpt_path={best}",
            "data=sst2",
            f"data.path={shared_data / 'sst2'}",
            "split=validation",
            "data.max_train_samples=64",
        ],
        tmp_path / "dev",
    )
    assert (
        full_dev["examples"] == 872
    )  # SST-2's whole dev set: the training run's slices are not carried over
    assert full_dev["hardware"]["cpu_cores"] >= 1


def test_incompatible_data_and_bad_splits_fail_before_evaluating(
    trained_run, tmp_path: Path, shared_data: Path
) -> None:
    best = trained_run[1]["best_checkpoint"]
    # Refused before any data is read: a task the family has no head for, in the family's own words ...
    for data, kind in [("squad", "extractive_qa"), ("multi30k", "seq2seq")]:
        with pytest.raises(
            UnsupportedTaskError,
            match=f"family 'recurrent' cannot serve task '{kind}'; it serves: text_classification, ",
        ):
            evaluate([f"ckpt_path={best}", f"data={data}", "data.path=/nonexistent"], tmp_path / data)
    # ... and a task the family serves, with another head than the checkpoint's.
    with pytest.raises(
        UnsupportedTaskError, match=r"trained for 'text_classification' but nlpzoo\.data\.NliData is 'nli'"
    ):
        evaluate([f"ckpt_path={best}", "data=rte", "data.path=/nonexistent"], tmp_path / "rte")
    with pytest.raises(
        DataError, match=r"labels \['bad', 'good'\] are not the checkpoint's \['negative', 'positive'\]"
    ):
        evaluate(
            [
                f"ckpt_path={best}",
                "data=sst2",
                f"data.path={shared_data / 'sst2'}",
                "data.label_names=[bad,good]",
                "data.max_train_samples=64",
            ],
            tmp_path / "labels",
        )
    with pytest.raises(ConfigError, match=r"split=dev is not one of \['train', 'validation', 'test'\]"):
        evaluate([f"ckpt_path={best}", "split=dev"], tmp_path / "split")


def test_a_seq2seq_checkpoint_keeps_its_target_vocabulary_on_other_data(
    tmp_path: Path, shared_data: Path
) -> None:
    from nlpzoo.training import run_training

    tiny = [
        "data.max_train_samples=64",
        "data.max_val_samples=16",
        "data.max_test_samples=16",
        "data.batch_size=16",
        "model.embedding_dim=16",
        "model.hidden_size=16",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "callbacks.rich_progress_bar=null",
        "trainer.precision=32-true",  # eval.py tests in 32-true (trainer: default), the recipe in bf16 where native
    ]
    trained = run_training(
        compose_config(
            ["experiment=multi30k_attention", f"paths.data_dir={shared_data}", *tiny], tmp_path / "run"
        )
    )
    assert (
        tmp_path / "run" / "plots" / "attention.png"
    ).stat().st_size > 1000  # the family returns attentions

    # Another slice of training text would train another target vocabulary: the checkpoint's must be used.
    evaluated = evaluate(
        [f"ckpt_path={tmp_path / 'run'}", "data.max_train_samples=32", "data.max_test_samples=16"],
        tmp_path / "eval",
    )
    assert evaluated["metrics"]["test/loss"] == pytest.approx(trained["metrics"]["test/loss"], rel=1e-5)
    assert evaluated["metrics"]["test/bleu"] == pytest.approx(trained["metrics"]["test/bleu"])
