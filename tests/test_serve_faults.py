"""The real server under faults: a request that fails inside the model among good ones in one batch, sampled
answers that do not depend on their batch-mates, and SIGTERM/SIGINT that stop every process and free the port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import nlpzoo
from nlpzoo.errors import DataError
from nlpzoo.serve.launch import ROOT, free_port, post_all, running_server, stop, wait_until_healthy
from tests.conftest import compose_config
from tests.test_prediction_language_model import FAMILIES, RUN

# A combining accent alone passes validation (a non-space character) but a tokenizer that strips accents
# encodes it to nothing: the language model has no token to continue.
POISON = "\u0301"
PROMPTS = ["ROMEO:\nWhat ", "First Citizen:\n", "KING", "JULIET:\n", "Good morrow", "O, ", "MENENIUS:\n"]
NEW_TOKENS = 12
SEED = 7


@pytest.fixture(scope="module")
def accent_stripping_lm(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> str:
    """A tiny GPT on Tiny Shakespeare with a byte-level BPE tokenizer that strips accents (a user's option)."""
    from nlpzoo.training import run_training

    overrides = [
        *(o for o in RUN if not o.startswith(("tokenizer=", "data.max_train_samples="))),
        "data.max_train_samples=1000",
        "tokenizer=bpe",
        "tokenizer.vocab_size=400",
        "tokenizer.strip_accents=true",
        f"data.path={shared_data / 'tinyshakespeare' / 'input.txt'}",
        *FAMILIES["gpt"],
    ]
    return run_training(compose_config(overrides, tmp_path_factory.mktemp("lm_bpe") / "run"))[
        "best_checkpoint"
    ]


@pytest.fixture(scope="module")
def lm_server(accent_stripping_lm: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The LM (exported: its drift profile) served with sampling on (its default) and a long batch timeout, so
    concurrent requests batch."""
    from tests.task_checkpoints import export_checkpoint

    run_dir = tmp_path_factory.mktemp("serve_lm")
    export_checkpoint(accent_stripping_lm, run_dir)
    overrides = [
        f"ckpt_path={accent_stripping_lm}",
        "max_batch_size=8",
        "batch_timeout=2",
        f"generation.max_new_tokens={NEW_TOKENS}",
        f"hydra.run.dir={run_dir}",
    ]
    with running_server(overrides, run_dir / "server.log") as url:
        yield url


def test_a_request_failing_in_the_model_fails_alone_and_sampling_ignores_batch_mates(
    lm_server: str, accent_stripping_lm: str
) -> None:
    with pytest.raises(DataError, match="encode to no token"):
        nlpzoo.load(accent_stripping_lm).predict([POISON])  # the poison fails inside the predictor

    payloads: list[dict] = [{"text": p} for p in [*PROMPTS[:3], POISON, *PROMPTS[3:]]]
    payloads[1]["seed"] = SEED  # a request's own seed, instead of the server's
    responses = post_all(lm_server, payloads, concurrency=len(payloads))
    metrics = httpx.get(f"{lm_server}/metrics", params={"format": "json"}).json()
    alone_in_a_batch = metrics["batch_sizes"]["counts"][0]
    assert metrics["requests"] == len(payloads) and alone_in_a_batch == 0  # the poison shared its batch

    poisoned = responses.pop(3)
    assert poisoned.status_code == 422 and "encode to no token" in poisoned.json()["detail"]
    assert [r.status_code for r in responses] == [200] * len(PROMPTS)
    # Each sampled answer is the text the predictor gives that prompt alone under the request's seed.
    predictor = nlpzoo.load(accent_stripping_lm, generation={"max_new_tokens": NEW_TOKENS})
    alone = [predictor.predict([prompt])[0] for prompt in PROMPTS]
    seeded = nlpzoo.load(accent_stripping_lm, generation={"max_new_tokens": NEW_TOKENS, "seed": SEED})
    alone[1] = seeded.predict([PROMPTS[1]])[0]
    assert [r.json() for r in responses] == alone
    assert httpx.post(f"{lm_server}/predict", json={"text": PROMPTS[0]}, timeout=60).json() == alone[0]
    assert httpx.post(f"{lm_server}/predict", json=payloads[1], timeout=60).json() == alone[1]
    assert httpx.get(f"{lm_server}/health").text == "ok"  # the worker is still up


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue  # ended while we read
    found, frontier = set(), [pid]
    while frontier:
        below = frontier.pop()
        children = [child for child, parent in parents.items() if parent == below]
        found.update(children)
        frontier += children
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_a_stop_signal_ends_every_process_of_the_server_and_frees_the_port(
    signum: signal.Signals, accent_stripping_lm: str, tmp_path: Path
) -> None:
    port = free_port()
    command = [
        sys.executable,
        str(ROOT / "serve.py"),
        f"ckpt_path={accent_stripping_lm}",
        f"port={port}",
        f"hydra.run.dir={tmp_path}",
    ]
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, log_path, 240)
        children = descendants(process.pid)
        assert (
            len(children) >= 3
        )  # the HTTP process, the inference worker, the managers, the resource tracker

        process.send_signal(signum)  # to serve.py alone, as `kill PID` does
        process.wait(timeout=15)
        deadline = time.time() + 10
        while time.time() < deadline and (any(map(alive, children)) or not port_is_free(port)):
            time.sleep(0.2)
        assert [pid for pid in children if alive(pid)] == [], log_path.read_text()[-3000:]
        assert port_is_free(port)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            stop(process)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # what a failed test left behind
