"""benchmarks/results.py: the README's results table from runs' summary.json files, between its markers only."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from nlpzoo.errors import ConfigError
from nlpzoo.hardware import hardware_label
from tests.conftest import ROOT, TINY, compose_config

CPU = {
    "cpu": "AMD EPYC 7B13",
    "cpu_cores": 2,
    "gpu": None,
    "accelerator": "cpu",
    "devices": 1,
    "torch": "2.13.0",
}


@pytest.fixture(scope="module")
def results() -> ModuleType:
    """benchmarks/results.py, imported from its file (benchmarks/ is a folder of scripts)."""
    spec = importlib.util.spec_from_file_location("benchmarks_results", ROOT / "benchmarks" / "results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def write_registry(path: Path, *entries: dict) -> Path:
    path.write_text(yaml.safe_dump({"experiments": list(entries)}))
    return path


def write_summary(
    path: Path, metrics: dict, task_name: str, wall_seconds: float, mtime: float | None = None, **extra
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "metrics": metrics,
        "wall_seconds": wall_seconds,
        "hardware": CPU,
        "config": {"task_name": task_name},
        **extra,
    }
    path.write_text(json.dumps(summary))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


SST2 = {
    "name": "sst2_lstm",
    "data": "SST-2 dev",
    "metric": "val/acc",
    "percent": True,
    "budget_minutes": 8,
    "target": ">= 0.85",
    "overrides": ["data.path=${paths.data_dir}/sst2"],
    "reference": {"value": "85.1", "source": "flax examples/sst2"},
}
CONLL = {
    "name": "conll_bilstm",
    "data": "CoNLL-2003 test",
    "metric": "test/f1",
    "budget_minutes": 5,
    "target": ">= 0.836",
    "reference": {"value": "0.836", "source": "Lample et al., 2016"},
}
NEVER_RUN = {**CONLL, "name": "never_run"}


def test_from_runs_rebuilds_the_table_and_touches_nothing_outside_the_markers(
    results, tmp_path: Path
) -> None:
    runs = tmp_path / "logs"
    write_summary(
        runs / "results" / "sst2_lstm" / "summary.json",
        {"val/acc": 0.84123, "val/loss": 0.4},
        "sst2_lstm",
        372.4,
    )
    # Training runs found wherever they lie, by task name: the newest one wins; eval.py summaries are not runs.
    write_summary(
        runs / "conll_bilstm" / "runs" / "a" / "summary.json",
        {"test/f1": 0.51},
        "conll_bilstm",
        30,
        mtime=1e9,
    )
    write_summary(
        runs / "conll_bilstm" / "runs" / "b" / "summary.json",
        {"test/f1": 0.87654},
        "conll_bilstm",
        41.6,
        mtime=2e9,
    )
    write_summary(
        runs / "eval" / "summary.json", {"test/f1": 0.99}, "conll_bilstm", 5, mtime=3e9, checkpoint="x.ckpt"
    )
    registry = write_registry(tmp_path / "experiments.yaml", SST2, CONLL, NEVER_RUN)

    readme = tmp_path / "README.md"
    original = (ROOT / "README.md").read_text()
    before, rest = original.split(results.START)
    _, after = rest.split(results.END)
    readme.write_text(original)
    assert results.main(["--from-runs", str(runs), "--registry", str(registry), "--readme", str(readme)]) == 0

    written = readme.read_text()
    assert written.startswith(before + results.START) and written.endswith(results.END + after)
    table = written[len(before) + len(results.START) : -len(results.END + after)]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows == [
        "| `sst2_lstm` | SST-2 dev | val/acc (x100) | 84.1 | >= 85.0 | no (84.1 vs >= 85.0) | 85.1 (flax examples/sst2) "
        "| 6.2 min | 8.0 min | AMD EPYC 7B13 (2 cores) |",
        "| `conll_bilstm` | CoNLL-2003 test | test/f1 | 0.877 | >= 0.836 | yes | 0.836 (Lample et al., 2016) "
        "| 42 s | 5.0 min | AMD EPYC 7B13 (2 cores) |",
    ]  # never_run has no run: left out
    header = "| experiment | data | metric | ours | target | meets reference | published | wall time | budget | hardware |"
    assert table.splitlines()[1] == header

    # Rebuilding again gives the same README: the old table is replaced, not appended to.
    results.main(["--from-runs", str(runs), "--registry", str(registry), "--readme", str(readme)])
    assert readme.read_text() == written


def test_experiments_without_a_run_keep_their_row_and_the_others_are_rebuilt(results, tmp_path: Path) -> None:
    """`--only NAME` in a new clone: the runs directory holds only NAME's run; every other row stays as it was."""
    runs = tmp_path / "logs"
    write_summary(runs / "sst2_lstm" / "summary.json", {"val/acc": 0.86}, "sst2_lstm", 300)
    registry = write_registry(tmp_path / "experiments.yaml", SST2, CONLL, NEVER_RUN)
    old_conll = "| `conll_bilstm` | an earlier run's row, kept verbatim | 0.9 |"
    readme = tmp_path / "README.md"
    readme.write_text(
        f"intro\n{results.START}\n| `sst2_lstm` | an old sst2 row |\n{old_conll}\n{results.END}\noutro\n"
    )
    assert results.main(["--from-runs", str(runs), "--registry", str(registry), "--readme", str(readme)]) == 0
    rows = [line for line in readme.read_text().splitlines() if line.startswith("| `")]
    assert len(rows) == 2 and rows[0].startswith("| `sst2_lstm` | SST-2 dev | val/acc (x100) | 86.0 |")
    assert rows[1] == old_conll  # no run here: as the README had it; never_run had no row and gets none


def test_a_registered_experiment_runs_to_completion_and_lands_in_the_table(
    results, tmp_path: Path, shared_data: Path
) -> None:
    # A budget of one second: the run is not cut there, it finishes its epoch, and the table says it overran.
    overrides = [*TINY, f"data.path={shared_data / 'sst2'}"]
    tiny = {**SST2, "overrides": overrides, "budget_minutes": 1 / 60, "target": ">= 0.0"}
    registry = write_registry(tmp_path / "experiments.yaml", tiny, CONLL)
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n{results.START}\nold table\n{results.END}\nfooter\n")
    runs = tmp_path / "runs"

    code = results.main(
        ["--only", "sst2_lstm", "--registry", str(registry), "--readme", str(readme), "--runs-dir", str(runs)]
    )
    assert code == 0
    summary = json.loads((runs / "sst2_lstm" / "summary.json").read_text())
    assert "max_time" not in summary["config"]["trainer"]
    assert summary["global_steps"] == 256 // 32  # the whole epoch of the recipe, past the budget
    assert {"val/acc", "test/acc"} <= set(summary["metrics"])
    text = readme.read_text()
    assert (
        "old table" not in text and text.startswith("# title\n") and text.endswith(f"{results.END}\nfooter\n")
    )
    (row,) = [line for line in text.splitlines() if line.startswith("| `sst2_lstm`")]
    assert f"| {100 * summary['metrics']['val/acc']:.1f} | >= 0.0 | no (" in row and "> budget) |" in row
    assert row.endswith(f"| 1 s | {hardware_label(summary['hardware'])} |")

    # A rerun that fails keeps the last complete run and its row (a rerun writes into sst2_lstm.running).
    arguments = ["--only", "sst2_lstm", "--registry", str(registry), "--readme", str(readme)]
    failed = results.main([*arguments, "--runs-dir", str(runs), "model.no_such_key=1"])
    assert failed == 1
    assert json.loads((runs / "sst2_lstm" / "summary.json").read_text()) == summary
    assert row in readme.read_text().splitlines()


def test_registered_experiments_exist_and_their_overrides_compose(results, tmp_path: Path) -> None:
    experiments = results.load_registry()
    assert "sst2_lstm" in {e.name for e in experiments}
    for experiment in experiments:
        cfg = compose_config([f"experiment={experiment.name}", *experiment.overrides], tmp_path)
        assert cfg.task_name == experiment.name
        assert re.fullmatch(r"(val|test)/\w+", experiment.metric), experiment.metric
        assert 0 < experiment.budget_minutes <= 60
    targets = {e.name: (e.comparison(), e.budget_minutes) for e in experiments}
    assert targets["shakespeare_gpt"] == (("<=", 1.88), 10)  # issue 17's table
    assert targets["multi30k_transformer"] == ((">=", 35.0), 45) and targets["text8_glove"] == (
        (">=", 0.5),
        4,
    )


def test_mistakes_in_the_registry_or_readme_are_named(results, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['budget'\]"):
        results.load_registry(write_registry(tmp_path / "typo.yaml", {**SST2, "budget": 3}))
    with pytest.raises(ConfigError, match=r"missing key\(s\) \['metric'\]"):
        results.load_registry(
            write_registry(tmp_path / "short.yaml", {k: v for k, v in SST2.items() if k != "metric"})
        )
    with pytest.raises(ConfigError, match=r"target '85%' must read '>= VALUE' or '<= VALUE'"):
        results.load_registry(write_registry(tmp_path / "target.yaml", {**SST2, "target": "85%"}))
    with pytest.raises(ConfigError, match="needs the markers"):
        results.replace_between_markers("# a README without markers\n", "| table |")
    with pytest.raises(ConfigError, match=r"--only: \['sst3'\] not in"):
        results.main(["--only", "sst3", "--registry", str(write_registry(tmp_path / "ok.yaml", SST2))])


def test_values_are_shown_as_papers_show_them(results) -> None:
    assert results.format_value(0.84123, percent=True) == "84.1"  # accuracy, F1
    assert results.format_value(27.456, percent=False) == "27.5"  # BLEU is already 0-100
    assert results.format_value(1.8765, percent=False) == "1.877"  # a loss, a correlation
    assert (
        results.format_value(None, percent=False) == results.format_value(float("nan"), percent=True) == "n/a"
    )


def test_meets_reference_needs_the_target_within_the_budget(results) -> None:
    gpt = results.Experiment(
        name="shakespeare_gpt", data="d", metric="val/loss", budget_minutes=10, target="<= 1.88", reference={}
    )
    assert gpt.verdict(1.87, 9 * 60) == "yes"
    assert gpt.verdict(1.95, 9 * 60) == "no (1.950 vs <= 1.880)"
    assert gpt.verdict(1.87, 11 * 60) == "no (11.0 min > budget)"
    assert gpt.verdict(None, None) == "no (n/a vs <= 1.880; n/a > budget)"
    assert (
        results.Experiment(name="x", data="d", metric="m", budget_minutes=1, reference={}).verdict(0.5, 1)
        == "-"
    )


def test_a_target_relative_to_another_metric_of_the_run(results, tmp_path: Path) -> None:
    tuned = {
        **CONLL,
        "name": "dialogsum_smollm2_lora",
        "metric": "test/rougeL",
        "target": ">= zero_shot/test/rougeL + 0.05",
    }
    runs = tmp_path / "runs"
    write_summary(
        runs / "a" / "summary.json", {"test/rougeL": 0.30, "zero_shot/test/rougeL": 0.21}, tuned["name"], 60
    )
    write_summary(
        runs / "b" / "summary.json", {"test/rougeL": 0.24, "zero_shot/test/rougeL": 0.21}, "short", 60
    )
    registry = write_registry(tmp_path / "experiments.yaml", tuned, {**tuned, "name": "short"})
    table = results.render_table(results.load_registry(registry), runs)
    rows = [line.split(" | ")[3:6] for line in table.splitlines() if line.startswith("| `")]
    assert rows == [
        ["0.300", ">= 0.260 (zero_shot/test/rougeL + 0.05)", "yes"],
        [
            "0.240",
            ">= 0.260 (zero_shot/test/rougeL + 0.05)",
            "no (0.240 vs >= 0.260 (zero_shot/test/rougeL + 0.05))",
        ],
    ]
    experiment = results.load_registry(registry)[0]
    assert experiment.verdict(0.3, 60, {}) == "no (0.300 vs >= zero_shot/test/rougeL + 0.05)"  # no baseline
    with pytest.raises(ConfigError, match="must read"):
        results.load_registry(write_registry(tmp_path / "bad.yaml", {**tuned, "target": ">= zero_shot * 2"}))


def test_hardware_label_names_the_gpu_when_one_was_used() -> None:
    gpu = {**CPU, "gpu": "NVIDIA H100 80GB HBM3", "accelerator": "cuda", "devices": 2}
    assert hardware_label(gpu) == "2 x NVIDIA H100 80GB HBM3"
    assert (
        hardware_label({**gpu, "accelerator": "cpu"}) == "AMD EPYC 7B13 (2 cores)"
    )  # a GPU present but unused
    assert hardware_label(None) == "unknown"
