"""The README is a test: every command of its code blocks runs as written, in a fresh copy of the project.

Only size limits are appended (`debug=fdr` and tiny sample counts for training, two Optuna trials,
short benchmark settings), and placeholders (RUN_DIR, CKPT, ...) are filled with runs this test
makes. Commands tagged `[GPU]`, `[SLURM]`, ... in their comment are checked for composition only.
A new README command is tested without touching this file.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, compose_config, python
from tests.readme_commands import ReadmeCommand, first_job, readme_commands

COMMANDS = [command for command in readme_commands(ROOT / "README.md") if not command.is_setup]
# Appended to every training command: one batch of each split, from slices of the data.
TRAIN_LIMITS = [
    "debug=fdr",
    "data.max_train_samples=64",
    "data.max_val_samples=16",
    "data.max_test_samples=16",
]
LATENCY_LIMITS = [
    "--batch-sizes",
    "1",
    "--lengths",
    "16",
    "--warmup",
    "1",
    "--repeats",
    "2",
    "--requests",
    "8",
    "--budget-s",
    "1",
]
PLACEHOLDER = re.compile(r"\b(QA_RUN_DIR|MT_RUN_DIR|LM_RUN_DIR|RUN_DIR|TEACHER_CKPT|CKPT)\b")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A fresh copy of the project next to a `shared/data`, as a clone lies: commands run in it unchanged.

    Sources are linked; README.md and benchmarks/ are copied (make results rewrites the README); logs/ starts empty.
    """
    root = tmp_path_factory.mktemp("readme")
    project = root / "nlpzoo"
    project.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in (".git", "logs", "outputs", "multirun", "README.md", "benchmarks", ".pytest_cache"):
            continue
        (project / entry.name).symlink_to(entry)
    shutil.copy(ROOT / "README.md", project / "README.md")
    # copied, not linked: benchmarks/results.py finds the README it rewrites from its own resolved path
    shutil.copytree(ROOT / "benchmarks", project / "benchmarks", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "shared").mkdir()
    (root / "shared" / "data").symlink_to(shared_data)
    return project


@pytest.fixture(scope="module")
def placeholders(sandbox: Path, task_run: Callable[[str], dict]) -> dict[str, str]:
    """RUN_DIR and CKPT: an sst2_lstm run (tiny slice); the other run directories: tiny task recipes."""
    from nlpzoo.training import run_training

    limits = [
        "data.max_train_samples=128",
        "data.max_val_samples=32",
        "data.max_test_samples=32",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "callbacks.rich_progress_bar=null",
    ]
    run_dir = sandbox / "logs" / "sst2_lstm" / "runs" / "readme"
    summary = run_training(compose_config(["experiment=sst2_lstm", *limits], run_dir))
    return {
        "RUN_DIR": str(run_dir),
        "CKPT": summary["best_checkpoint"],
        "TEACHER_CKPT": summary["best_checkpoint"],
        "QA_RUN_DIR": str(Path(task_run("qa_transformer_encoder")["best_checkpoint"]).parents[1]),
        "MT_RUN_DIR": str(Path(task_run("seq2seq_attention")["best_checkpoint"]).parents[1]),
        "LM_RUN_DIR": str(Path(task_run("lm_gpt")["best_checkpoint"]).parents[1]),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shell(command: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """`command` through bash, with this interpreter's environment first on PATH (an activated venv), and
    `python` the suite's (conftest.python)."""
    path = os.pathsep.join([str(Path(python()).parent), str(Path(sys.executable).parent), os.environ["PATH"]])
    environment = {**os.environ, "PATH": path}
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout
    )


def with_limits(command: ReadmeCommand, text: str) -> str:
    """The command as written plus only what bounds its size."""
    argv = shlex.split(text)
    script = next((arg for arg in argv if arg.endswith(".py")), "")
    extra: list[str] = []
    if script == "train.py":
        extra = list(TRAIN_LIMITS)
        if any(arg.startswith("hparams_search=") for arg in argv):
            extra.append("hydra.sweeper.n_trials=2")
    elif script.endswith("latency.py"):
        extra = LATENCY_LIMITS
    elif argv[:2] == ["make", "train"]:
        args = next((arg.split("=", 1)[1] for arg in argv if arg.startswith("ARGS=")), "")
        venv = Path(sys.prefix)
        # the interpreter running the tests stands for .venv: make must not reinstall it
        return (
            f"make -o {venv}/.installed -o {venv}/bin/python VENV={venv} train "
            f"ARGS={shlex.quote(' '.join([args, *TRAIN_LIMITS]).strip())}"
        )
    return " ".join([text, *map(shlex.quote, extra)])


def compose_only(command: ReadmeCommand, cwd: Path) -> None:
    """What can be checked of a command that needs a GPU, a cluster, the network or hours."""
    argv = command.argv
    if "train.py" in argv:
        train_args = first_job(argv[argv.index("train.py") + 1 :])
        result = shell(
            " ".join(["python", "train.py", *map(shlex.quote, train_args), "--cfg", "job"]), cwd, 120
        )
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    elif argv[0] == "make":
        result = shell(f"make -n {shlex.join(argv[1:])}", cwd, 60)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
    else:  # another tool (wandb sync, mlflow ui): it must be installed
        assert shutil.which(argv[0], path=str(Path(sys.executable).parent)), (
            f"{command}: {argv[0]} is not installed"
        )


def run_server(text: str, cwd: Path) -> None:
    """serve.py as written on a free port: it answers /health and one /predict, then stops on SIGTERM."""
    port = free_port()
    text = re.sub(r"\bport=\d+", f"port={port}", text)
    if "port=" not in text:
        text += f" port={port}"
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    log = cwd / f"serve-{port}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", "-c", f"exec {text}"],
            cwd=cwd,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{text} exited:\n{log.read_text()[-3000:]}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/predict", json={"text": "a gorgeous, witty film"}, timeout=60
        )
        assert answer.status_code == 200, (
            f"{text}: {answer.status_code} {answer.text}\n{log.read_text()[-3000:]}"
        )
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


@pytest.mark.parametrize("command", COMMANDS, ids=[f"line{c.line}" for c in COMMANDS])
def test_readme_command(command: ReadmeCommand, sandbox: Path, placeholders: dict[str, str]) -> None:
    """The command runs as written (tagged ones: their configuration composes)."""
    if command.tag:
        compose_only(command, sandbox)
        return
    text = PLACEHOLDER.sub(lambda match: placeholders[match.group(1)], command.text)
    if " serve.py" in f" {text}":
        run_server(text, sandbox)
        return
    result = shell(with_limits(command, text), sandbox)
    assert result.returncode == 0, (
        f"{command}\n$ {with_limits(command, text)}\n{result.stdout[-3000:]}\n{result.stderr[-4000:]}"
    )


def test_readme_has_commands() -> None:
    """The parser finds the README's commands (a broken fence would silently test nothing)."""
    programs = {command.argv[0] for command in COMMANDS}
    scripts = {arg for command in COMMANDS for arg in command.argv if arg.endswith(".py")}
    assert {"python", "make"} <= programs
    assert {"train.py", "eval.py", "predict.py", "export.py", "serve.py"} <= scripts
    assert len(COMMANDS) >= 20
