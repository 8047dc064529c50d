"""The suite's pre-imported `python` (tests/prewarmed.py) behaves as a fresh interpreter would, for what the
suite's commands rely on: exit status, streams, environment, signals, and a fresh fallback where it cannot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import python

REPORT = """import os, sys
print(os.getcwd(), sys.argv[1:], os.environ.get("PROBE"), "torch" in sys.modules, "nlpzoo" in sys.modules)
"""


def script(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "probe.py"
    path.write_text(text)
    return path


@pytest.fixture
def prewarmed_python() -> str:
    executable = python()
    if executable == sys.executable:
        pytest.skip("NLPZOO_TEST_FRESH_PYTHON=1: commands run in fresh interpreters")
    return executable


def test_a_command_runs_forked_with_its_arguments_directory_and_environment(
    prewarmed_python: str, tmp_path: Path
) -> None:
    probe = script(tmp_path, REPORT)
    environment = {**os.environ, "PL_GLOBAL_SEED": "3"}  # read when a run starts, not at import
    result = subprocess.run(
        [prewarmed_python, str(probe), "a b", "c"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    # torch is there already (the fork), nlpzoo is not (the project is imported fresh by every command)
    assert result.stdout.split("\n")[0] == f"{tmp_path} ['a b', 'c'] None True False"
    environment["PROBE"] = "seen"
    result = subprocess.run(
        [prewarmed_python, str(probe)], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    # PROBE is not one of the variables known to be read only at run time: a fresh interpreter runs it
    assert result.stdout.split("\n")[0] == f"{tmp_path} [] seen False False"


@pytest.mark.parametrize(
    ("code", "status", "stderr"),
    [
        ("import sys; sys.exit(7)", 7, ""),
        ("raise ValueError('boom')", 1, "ValueError: boom"),
        ("import sys; sys.exit('a message')", 1, "a message"),
    ],
)
def test_exit_status_and_errors_are_the_commands(
    prewarmed_python: str, tmp_path: Path, code: str, status: int, stderr: str
) -> None:
    result = subprocess.run([prewarmed_python, str(script(tmp_path, code))], capture_output=True, text=True)
    assert result.returncode == status
    assert stderr in result.stderr


def test_standard_input_reaches_the_command(prewarmed_python: str, tmp_path: Path) -> None:
    probe = script(tmp_path, "import sys; print(sys.stdin.read().upper())")
    result = subprocess.run([prewarmed_python, str(probe)], input="hello", capture_output=True, text=True)
    assert result.stdout.strip() == "HELLO"


def test_a_signal_to_the_command_is_handled_by_it(prewarmed_python: str, tmp_path: Path) -> None:
    probe = script(
        tmp_path,
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (print('stopping'), sys.exit(3)))\n"
        "print('ready', os.getpid(), flush=True)\n"
        "time.sleep(60)\n",
    )
    process = subprocess.Popen([prewarmed_python, str(probe)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().startswith("ready")
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert (process.returncode, output.strip()) == (3, "stopping")


def test_killing_the_client_ends_the_command(prewarmed_python: str, tmp_path: Path) -> None:
    probe = script(tmp_path, "import os, time\nprint('ready', os.getpid(), flush=True)\ntime.sleep(60)\n")
    process = subprocess.Popen([prewarmed_python, str(probe)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    command = int(process.stdout.readline().split()[1])
    process.kill()  # what subprocess.run's timeout does
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while running(command) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(command), "the command outlived its killed client"


def running(pid: int) -> bool:
    """Alive and not a zombie (ended, not yet reaped by the server)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
