"""The HTTP server: LitServe batches concurrent /predict requests into one model call.

Requests are validated by FastAPI in the HTTP process (`PredictRequest`), so a bad request gets
its own 422 and never reaches a batch, where LitServe would fail every request batched with it.
The inference worker keeps drift and batch statistics in a `multiprocessing.Manager` dict, which
the HTTP process reads to answer /metrics.
"""

# No `from __future__ import annotations`: LitServe reads `decode_request`'s annotation as a class.

import logging
import multiprocessing
import time
from pathlib import Path
from typing import Any, ClassVar

import litserve as ls
import torch
from pydantic import BaseModel, ConfigDict, field_validator

from nlpzoo.checkpoint import read_checkpoint
from nlpzoo.errors import ConfigError, UnsupportedTaskError
from nlpzoo.export.runtime import PROFILE_FILE, Predictor, export_dir_for, load_predictor
from nlpzoo.models.base import CHECKPOINT_KEY
from nlpzoo.serve.drift import DriftMonitor, ReferenceProfile, text_statistics
from nlpzoo.tasks import TaskKind

log = logging.getLogger("nlpzoo.serve")


class PredictRequest(BaseModel):
    """`{"text": "..."}`: a non-empty string of at most `max_chars` characters, nothing else."""

    model_config = ConfigDict(extra="forbid", strict=True)
    max_chars: ClassVar[int] = 2000  # set from config by `build_server`, before the HTTP workers fork

    text: str

    @field_validator("text")
    @classmethod
    def non_empty_and_bounded(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text is empty; send at least one non-space character")
        if len(text) > cls.max_chars:
            raise ValueError(f"text has {len(text)} characters; the limit is {cls.max_chars}")
        return text


class ClassifierAPI(ls.LitAPI):
    """Loads the checkpoint on the chosen backend in the worker; texts in, labels with scores out."""

    def __init__(
        self,
        ckpt_path: str,
        backend: str,
        export_dir: str | None,
        drift: dict[str, Any],
        shared: Any,
        max_batch_size: int,
        batch_timeout: float,
        threads: int = 0,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout)
        self.ckpt_path, self.backend_name, self.export_dir = ckpt_path, backend, export_dir
        self.drift_config = drift
        self.shared = shared
        self.threads = threads

    def setup(self, device: str) -> None:
        configure_worker_logging()
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        self.predictor: Predictor = load_predictor(self.ckpt_path, self.backend_name, self.export_dir, self.threads)
        self.monitor = drift_monitor(self.ckpt_path, self.export_dir, self.drift_config)
        self.batches = self.requests = self.next_log = 0
        self.predict_seconds = 0.0

    def decode_request(self, request: PredictRequest) -> str:
        return request.text

    def batch(self, inputs: list[str]) -> list[str]:
        return inputs

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        started = time.perf_counter()
        inputs = self.predictor.encode(texts)
        outputs = self.predictor.outputs(inputs)
        predictions = self.predictor.decode(outputs, inputs)
        self.predict_seconds += time.perf_counter() - started
        self.batches += 1
        self.requests += len(texts)
        if self.monitor is not None:
            self.monitor.update(
                text_statistics(inputs["input_ids"], inputs["attention_mask"], outputs["logits"],
                                self.predictor.spec.unk_token_id)
            )
        self.publish()
        return predictions

    def unbatch(self, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return outputs

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        return output

    def publish(self) -> None:
        """Share the statistics with the HTTP process; log drift every `log_every` requests."""
        snapshot: dict[str, Any] = {
            "backend": self.backend_name,
            "requests": self.requests,
            "batches": self.batches,
            "mean_batch_size": self.requests / max(self.batches, 1),
            "mean_batch_predict_ms": 1000 * self.predict_seconds / max(self.batches, 1),
        }
        if self.monitor is not None:
            snapshot["drift"] = self.monitor.report()
            if self.requests >= self.next_log:
                log_drift(snapshot["drift"])
                self.next_log = self.requests + int(self.drift_config.get("log_every", 100))
        self.shared["metrics"] = snapshot


def configure_worker_logging() -> None:
    """The inference worker is a fresh (spawned) process: give the serving log a handler there."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def drift_monitor(ckpt_path: str, export_dir: str | None, config: dict[str, Any]) -> DriftMonitor | None:
    """The monitor over the reference profile export.py stored, or None when drift is turned off."""
    if not config.get("enabled", True):
        return None
    path = export_dir_for(ckpt_path, export_dir) / PROFILE_FILE
    if not path.is_file():
        raise ConfigError(
            f"no drift reference profile at {path}: run `python export.py ckpt_path={ckpt_path}` first, "
            "or serve with drift.enabled=false"
        )
    return DriftMonitor(
        ReferenceProfile.load(path), int(config["window"]), dict(config.get("thresholds") or {}), int(config["min_samples"])
    )


def log_drift(report: dict[str, Any]) -> None:
    scores = ", ".join(
        f"{name}={entry['psi']:.3f}" if entry["psi"] is not None else f"{name}=n/a"
        for name, entry in report["statistics"].items()
    )
    level = logging.WARNING if report["drifted"] else logging.INFO
    log.log(level, "drift PSI over the last %d requests: %s; drifted: %s", report["window"], scores, report["drifted"] or "none")


def build_server(
    ckpt_path: str,
    backend: str = "torch",
    export_dir: str | None = None,
    max_batch_size: int = 16,
    batch_timeout: float = 0.01,
    max_chars: int = 2000,
    threads: int = 0,
    drift: dict[str, Any] | None = None,
    timeout: float = 30.0,
) -> ls.LitServer:
    """A LitServer with /predict, /health (LitServe's) and /metrics (requests, batching, drift)."""
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: no such checkpoint")
    kind = ((read_checkpoint(ckpt_path).get(CHECKPOINT_KEY) or {}).get("spec") or {}).get("kind")
    if kind != TaskKind.TEXT_CLASSIFICATION.value:
        raise UnsupportedTaskError(f"serve.py serves text_classification checkpoints; {ckpt_path} is {kind}")
    if max_chars < 1:
        raise ConfigError(f"max_chars={max_chars} must be at least 1")
    drift = dict(drift or {"enabled": False})
    drift_monitor(ckpt_path, export_dir, drift)  # fail now, not in the worker, when the profile is missing
    PredictRequest.max_chars = max_chars
    shared = multiprocessing.Manager().dict()
    shared["metrics"] = {"backend": backend, "requests": 0, "batches": 0}
    api = ClassifierAPI(ckpt_path, backend, export_dir, drift, shared, max_batch_size, batch_timeout, threads)
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1, timeout=timeout)

    async def metrics() -> dict[str, Any]:
        return dict(shared["metrics"])

    server.app.add_api_route("/metrics", metrics, methods=["GET"])
    return server
