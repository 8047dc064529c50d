"""Starting `serve.py` as a child process on a free loopback port, and a bounded local load test against it."""

from __future__ import annotations

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
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process, log_path, startup_seconds)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and the workers it spawned
            process.wait(timeout=60)


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


def load_test(url: str, texts: Sequence[str], concurrency: int) -> dict[str, float]:
    """End-to-end latency (p50/p95 ms) and requests/second for a fixed set of requests."""
    latencies: list[float] = []

    def one(client: httpx.Client, text: str) -> int:
        started = time.perf_counter()
        status = client.post(f"{url}/predict", json={"text": text}).status_code
        latencies.append(time.perf_counter() - started)
        return status

    started = time.perf_counter()
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(concurrency) as pool:
        statuses = list(pool.map(lambda text: one(client, text), texts))
    wall = time.perf_counter() - started
    milliseconds = 1000 * np.asarray(latencies)
    return {
        "requests": len(texts),
        "concurrency": concurrency,
        "ok": sum(status == 200 for status in statuses),
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p95_ms": float(np.percentile(milliseconds, 95)),
        "requests_per_second": len(texts) / wall,
    }
