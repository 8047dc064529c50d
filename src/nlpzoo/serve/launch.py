"""Starting `serve.py` as a child process on a free loopback port, and a bounded local load test against it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(overrides: Sequence[str], log_path: Path, startup_seconds: float = 240) -> Iterator[str]:
    """`python serve.py OVERRIDES` on 127.0.0.1 and a free port; yields its URL, stops it (and its workers) after."""
    port = free_port()
    command = [sys.executable, str(ROOT / "serve.py"), *overrides, "host=127.0.0.1", f"port={port}"]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process, log_path, startup_seconds)
            yield url
        finally:
            stop(process)


def stop(process: subprocess.Popen, seconds: float = 30) -> None:
    """SIGTERM to serve.py, which stops its own children; then SIGKILL to its session, for whatever was left."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its own session: only what serve.py started
        process.wait(timeout=seconds)


def wait_until_healthy(url: str, process: subprocess.Popen, log_path: Path, seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve.py exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).text == "ok":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"serve.py did not answer /health within {seconds} s:\n{log_path.read_text()}")


def post_all(url: str, payloads: Sequence[Any], concurrency: int = 8) -> list[httpx.Response]:
    """POST every payload to /predict from `concurrency` threads; responses in payload order."""
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda payload: client.post(f"{url}/predict", json=payload), payloads))


def load_test(
    url: str, payloads: Sequence[str | dict[str, Any]], concurrency: int, budget_s: float | None = None
) -> dict[str, float]:
    """End-to-end latency (p50/p95/p99 ms), requests/second and errors for a fixed set of requests (a string is
    `{"text": ...}`); with `budget_s`, requests not started by then are skipped (counted in `skipped`)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + budget_s if budget_s else float("inf")

    def one(client: httpx.Client, payload: str | dict[str, Any]) -> int | None:
        if time.perf_counter() > deadline:
            return None
        started = time.perf_counter()
        try:
            status = client.post(
                f"{url}/predict", json={"text": payload} if isinstance(payload, str) else payload
            ).status_code
        except httpx.HTTPError:
            status = 0  # no answer at all: counts as an error
        latencies.append(time.perf_counter() - started)
        return status

    started = time.perf_counter()
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(concurrency) as pool:
        statuses = list(pool.map(lambda payload: one(client, payload), payloads))
    wall = time.perf_counter() - started
    sent = [status for status in statuses if status is not None]
    milliseconds = 1000 * np.asarray(latencies or [float("nan")])
    return {
        "requests": len(sent),
        "skipped": len(statuses) - len(sent),
        "concurrency": concurrency,
        "ok": sum(status == 200 for status in sent),
        "errors": sum(status != 200 for status in sent),
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p95_ms": float(np.percentile(milliseconds, 95)),
        "p99_ms": float(np.percentile(milliseconds, 99)),
        "requests_per_second": len(sent) / wall,
    }
