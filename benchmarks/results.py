"""The README's results table, regenerated from runs rather than typed by hand.

    python benchmarks/results.py                      # run every registered experiment, then rewrite the table
    python benchmarks/results.py --only sst2_lstm     # run some of them (the other rows stay as they are)
    python benchmarks/results.py --from-runs logs     # no training: the table from existing summary.json files
    python benchmarks/results.py --from-runs logs --print   # show the table, leave README.md alone

Experiments, their budgets, metrics, targets and published references are listed in
benchmarks/experiments.yaml. Every run goes to completion (its recipe's own stopping rule, never a
time cut); the table shows its wall time against the budget and whether it meets its reference:
the target reached within the budget.
"""

from __future__ import annotations

import argparse
import json
import math
import operator
import os
import shutil
import subprocess
import sys
import time
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from nlpzoo.errors import ConfigError
from nlpzoo.hardware import hardware_label

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = Path(__file__).with_name("experiments.yaml")
RUNS_DIR = ROOT / "logs" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"
SAFETY_FACTOR, SAFETY_MARGIN_S = (
    3,
    600,
)  # a run still going after 3x its budget + 10 min is stopped (a hang): no row
COMPARISONS = {">=": operator.ge, "<=": operator.le}
RUNNING_SUFFIX = ".running"  # a run in progress, until it completes


@dataclass
class Experiment:
    """One row of the table: what to run, its budget, what to report, the target and the reference."""

    name: str
    data: str
    metric: str
    budget_minutes: float
    reference: dict[str, str]
    target: str | None = (
        None  # ">= 0.85", "<= 1.88", ">= zero_shot/test/rougeL + 0.05": what the metric must reach
    )
    overrides: list[str] = field(default_factory=list)
    percent: bool = False

    def target_parts(self) -> tuple[str, str | None, float] | None:
        """The target as (operator, base metric, offset): '>= 0.85' -> ('>=', None, 0.85); relative to
        another metric of the same summary.json, '>= zero_shot/test/rougeL + 0.05' -> ('>=', 'zero_shot/test/rougeL', 0.05)."""
        if self.target is None:
            return None
        parts = str(self.target).split()
        malformed = ConfigError(
            f"experiment {self.name}: target '{self.target}' must read '>= VALUE' or '<= VALUE' "
            "(VALUE: a number, or a summary metric plus or minus a number: 'zero_shot/test/rougeL + 0.05')"
        )
        if len(parts) not in (2, 4) or parts[0] not in COMPARISONS:
            raise malformed
        if len(parts) == 4 and parts[2] not in ("+", "-"):
            raise malformed
        number = parts[-1]
        try:
            value = float(number)
        except ValueError:
            raise ConfigError(
                f"experiment {self.name}: target '{self.target}': '{number}' is not a number"
            ) from None
        if len(parts) == 2:
            return parts[0], None, value
        return parts[0], parts[1], value if parts[2] == "+" else -value

    def comparison(self, metrics: dict[str, float] | None = None) -> tuple[str, float | None] | None:
        """The target as (operator, value), or None; a relative target's value comes from the run's
        `metrics` (None where they lack its base metric); a malformed target is a ConfigError naming it."""
        parts = self.target_parts()
        if parts is None:
            return None
        symbol, base, offset = parts
        if base is None:
            return symbol, offset
        value = (metrics or {}).get(base)
        return symbol, None if value is None else value + offset

    def verdict(
        self, value: float | None, wall_seconds: float | None, metrics: dict[str, float] | None = None
    ) -> str:
        """'yes' when the metric reaches the target within the budget, else 'no' and what missed; '-' without a target."""
        comparison = self.comparison(metrics)
        if comparison is None:
            return "-"
        symbol, target = comparison
        misses = []
        if (
            value is None
            or target is None
            or not math.isfinite(value)
            or not COMPARISONS[symbol](value, target)
        ):
            shown = format_value(value, self.percent)
            misses.append(f"{shown} vs {format_target(self, metrics)}")
        if wall_seconds is None or wall_seconds > self.budget_minutes * 60:
            misses.append(f"{format_duration(wall_seconds)} > budget")
        return "yes" if not misses else "no (" + "; ".join(misses) + ")"


def load_registry(path: Path = REGISTRY) -> list[Experiment]:
    """The registered experiments, each entry checked for missing and unknown keys."""
    entries = (yaml.safe_load(path.read_text()) or {}).get("experiments") or []
    known = {f.name for f in fields(Experiment)}
    required = {f.name for f in fields(Experiment) if f.default is MISSING and f.default_factory is MISSING}
    experiments = []
    for index, entry in enumerate(entries):
        where = f"{path}: experiment {entry.get('name', index)}"
        if unknown := set(entry) - known:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; valid: {sorted(known)}")
        if missing := required - set(entry):
            raise ConfigError(f"{where}: missing key(s) {sorted(missing)}")
        if not {"value", "source"} <= set(entry["reference"]):
            raise ConfigError(f"{where}: reference needs a value and a source")
        experiment = Experiment(**entry)
        experiment.target_parts()  # a malformed target fails here, before any run
        experiments.append(experiment)
    return experiments


def run_experiment(experiment: Experiment, runs_dir: Path, extra: list[str]) -> bool:
    """`train.py experiment=NAME` to completion into runs_dir/NAME.running, which replaces runs_dir/NAME
    only once it holds a summary: a failed, hung or interrupted run never deletes the last complete one."""
    run_dir = runs_dir / f"{experiment.name}{RUNNING_SUFFIX}"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # an earlier attempt's leftovers
    command = [
        sys.executable,
        "train.py",
        f"experiment={experiment.name}",
        *experiment.overrides,
        *extra,
        f"hydra.run.dir={run_dir}",
    ]
    environment = {"HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", **os.environ}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "src"), environment.get("PYTHONPATH")])
    )
    print(
        f"\n== {experiment.name} (budget {experiment.budget_minutes} min): {' '.join(command[1:])}",
        flush=True,
    )
    limit = SAFETY_FACTOR * experiment.budget_minutes * 60 + SAFETY_MARGIN_S
    try:
        completed = subprocess.run(command, cwd=ROOT, env=environment, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        print(
            f"!! {experiment.name}: still running after {limit / 60:.0f} min; stopped as hung",
            file=sys.stderr,
        )
        return False
    if completed.returncode != 0 or not (run_dir / "summary.json").is_file():
        print(f"!! {experiment.name}: failed (exit code {completed.returncode})", file=sys.stderr)
        return False
    finished = runs_dir / experiment.name
    if finished.exists():
        shutil.rmtree(finished)  # never report a previous run's summary as this one's
    run_dir.rename(finished)  # paths inside the summary still name the .running folder
    return True


def find_summary(experiment: Experiment, runs_dir: Path) -> dict[str, Any] | None:
    """The latest summary.json under runs_dir of a training run of this experiment, or None."""
    candidates = []
    for path in runs_dir.rglob("summary.json"):
        if any(part.endswith(RUNNING_SUFFIX) for part in path.relative_to(runs_dir).parts):
            continue  # a run that has not finished (or failed)
        try:
            summary = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a run killed while writing
        task = (summary.get("config") or {}).get("task_name")
        if "checkpoint" not in summary and (task == experiment.name or path.parent.name == experiment.name):
            candidates.append((path.stat().st_mtime, path, summary))  # ("checkpoint": an eval.py summary)
    return max(candidates, key=lambda c: c[0])[2] if candidates else None


def format_value(value: float | None, percent: bool) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if percent:
        return f"{100 * value:.1f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"  # BLEU 0-100; losses, correlations


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def format_target(experiment: Experiment, metrics: dict[str, float] | None = None) -> str:
    """'>= 0.850'; a relative target with its value in this run: '>= 0.287 (zero_shot/test/rougeL + 0.05)'."""
    comparison = experiment.comparison(metrics)
    if comparison is None:
        return "-"
    symbol, value = comparison
    parts = experiment.target_parts()
    relative = parts is not None and parts[1] is not None
    if not relative:
        return f"{symbol} {format_value(value, experiment.percent)}"
    expression = " ".join(str(experiment.target).split()[1:])
    if value is None:
        return f"{symbol} {expression}"
    return f"{symbol} {format_value(value, experiment.percent)} ({expression})"


HEADER = [
    "experiment",
    "data",
    "metric",
    "ours",
    "target",
    "meets reference",
    "published",
    "wall time",
    "budget",
    "hardware",
]


def table_row(experiment: Experiment, summary: dict[str, Any]) -> list[str]:
    """One row of HEADER: the run's value against its target, its wall time against its budget."""
    metrics = summary.get("metrics", {})
    value = metrics.get(experiment.metric)
    metric = f"{experiment.metric} (x100)" if experiment.percent else experiment.metric
    wall = summary.get("wall_seconds")
    return [
        f"`{experiment.name}`",
        experiment.data,
        metric,
        format_value(value, experiment.percent),
        format_target(experiment, metrics),
        experiment.verdict(value, wall, metrics),
        f"{experiment.reference['value']} ({experiment.reference['source']})",
        format_duration(wall),
        format_duration(experiment.budget_minutes * 60),
        hardware_label(summary.get("hardware")),
    ]


def current_rows(readme_text: str) -> dict[str, str]:
    """The README table's rows as they stand, by experiment name: what an experiment without a run keeps."""
    start, end = readme_text.find(START), readme_text.find(END)
    if start < 0 or end < start:
        return {}
    table = readme_text[start:end].splitlines()
    return {line.split("`")[1]: line for line in table if line.startswith("| `")}


def render_table(experiments: list[Experiment], runs_dir: Path, kept: dict[str, str] | None = None) -> str:
    """The markdown table of every registered experiment: its latest run under runs_dir, else its row in
    `kept` (the README's table before; `--only` reruns some rows and leaves the others), else no row."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    unchanged, missing = [], []
    for experiment in experiments:
        summary = find_summary(experiment, runs_dir)
        if summary is not None:
            cells = table_row(experiment, summary)
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        elif kept and experiment.name in kept:
            unchanged.append(experiment.name)
            lines.append(kept[experiment.name])
        else:
            missing.append(experiment.name)
    if unchanged:
        print(
            f"no run under {runs_dir} for: {', '.join(unchanged)} (their rows stay as they were)",
            file=sys.stderr,
        )
    if missing:
        print(
            f"no run found under {runs_dir} for: {', '.join(missing)} (left out of the table)",
            file=sys.stderr,
        )
    note = (
        f"Generated {time.strftime('%Y-%m-%d')} by `make results` (benchmarks/results.py) from the runs' summary.json; "
        "budgets, targets and references in benchmarks/experiments.yaml. Each run went to completion; wall time is "
        "the whole run (data, training, validation and test of the best checkpoint) on a machine that may have been "
        "shared. Meets reference: the target reached within the budget."
    )
    return "\n".join([*lines, "", note])


def replace_between_markers(text: str, table: str) -> str:
    """The README with only the part between the results markers replaced."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        raise ConfigError(
            f"the README needs the markers {START} and {END}, in that order, around the results table"
        )
    return text[: start + len(START)] + "\n" + table + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from-runs", type=Path, help="rebuild the table from summary.json files under this folder"
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these registered experiments")
    parser.add_argument("--registry", type=Path, default=REGISTRY)
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument(
        "--runs-dir", type=Path, default=RUNS_DIR, help="where the runs go (default logs/results)"
    )
    parser.add_argument("--print", action="store_true", help="print the table instead of writing the README")
    parser.add_argument(
        "overrides", nargs="*", help="extra train.py overrides for every run (e.g. trainer=gpu)"
    )
    args = parser.parse_args(argv)

    experiments = load_registry(args.registry)
    if unknown := set(args.only or []) - {e.name for e in experiments}:
        raise ConfigError(
            f"--only: {sorted(unknown)} not in {args.registry}; registered: {[e.name for e in experiments]}"
        )
    failed = []
    runs_dir = args.from_runs or args.runs_dir
    if args.from_runs is None:
        for experiment in experiments:
            if (not args.only or experiment.name in args.only) and not run_experiment(
                experiment, runs_dir, args.overrides
            ):
                failed.append(experiment.name)
    readme = args.readme.read_text() if args.readme.is_file() else ""
    table = render_table(experiments, runs_dir, current_rows(readme))
    if args.print:
        print(table)
    else:
        args.readme.write_text(replace_between_markers(readme, table))
        print(f"results table written to {args.readme}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
