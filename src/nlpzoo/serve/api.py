"""The HTTP server: LitServe batches concurrent /predict requests into one model call.

Text classification: `{"text"}` -> label and score, on any backend, with drift monitoring. Tagging:
`{"text"}` -> tags and entity spans; extractive QA: `{"question", "context"}` -> answer span (any
backend); seq2seq and language models: `{"text"}` -> generated text (PyTorch). These run through the
prediction package (`nlpzoo.load`), so a served answer is what `predict()` gives for that input.

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
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from nlpzoo.checkpoint import read_checkpoint
from nlpzoo.errors import ConfigError, UnsupportedTaskError
from nlpzoo.export.runtime import (
    BACKENDS,
    ONNX_FILES,
    PROFILE_FILE,
    Predictor,
    export_dir_for,
    load_predictor,
    load_task_predictor,
)
from nlpzoo.models.base import CHECKPOINT_KEY
from nlpzoo.prediction import GenerationOptions
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
        return bounded_text("text", text, cls.max_chars)


def bounded_text(field: str, text: str, max_chars: int) -> str:
    """`text` when it has a non-space character and at most `max_chars` characters; else why not."""
    if not text.strip():
        raise ValueError(f"{field} is empty; send at least one non-space character")
    if len(text) > max_chars:
        raise ValueError(f"{field} has {len(text)} characters; the limit is {max_chars}")
    return text


class QuestionRequest(BaseModel):
    """`{"question": "...", "context": "..."}`: two non-empty strings of at most `max_chars` characters each."""

    model_config = ConfigDict(extra="forbid", strict=True)
    max_chars: ClassVar[int] = 2000

    question: str
    context: str

    @field_validator("question", "context")
    @classmethod
    def non_empty_and_bounded(cls, text: str, info: ValidationInfo) -> str:
        return bounded_text(info.field_name, text, cls.max_chars)


class ServedAPI(ls.LitAPI):
    """What every served kind shares: the checkpoint and backend, worker threads and logging, batch statistics."""

    def __init__(
        self, ckpt_path: str, backend: str, export_dir: str | None, shared: Any, max_batch_size: int,
        batch_timeout: float, threads: int = 0,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout)
        self.ckpt_path, self.backend_name, self.export_dir = ckpt_path, backend, export_dir
        self.shared = shared
        self.threads = threads

    def setup(self, device: str) -> None:
        configure_worker_logging()
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        self.batches = self.requests = 0
        self.predict_seconds = 0.0
        self.load()

    def load(self) -> None:
        """Build the predictor in the worker process."""
        raise NotImplementedError

    def batch(self, inputs: list[Any]) -> list[Any]:
        return inputs

    def unbatch(self, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return outputs

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        return output

    def count(self, requests: int, started: float) -> dict[str, Any]:
        """Count a model call of `requests` begun at `started`; the statistics /metrics shows."""
        self.predict_seconds += time.perf_counter() - started
        self.batches += 1
        self.requests += requests
        return {
            "backend": self.backend_name,
            "requests": self.requests,
            "batches": self.batches,
            "mean_batch_size": self.requests / self.batches,
            "mean_batch_predict_ms": 1000 * self.predict_seconds / self.batches,
        }


class ClassifierAPI(ServedAPI):
    """Loads the checkpoint on the chosen backend in the worker; texts in, labels with scores out."""

    def __init__(self, *common: Any, drift: dict[str, Any], **options: Any) -> None:
        super().__init__(*common, **options)
        self.drift_config = drift

    def load(self) -> None:
        self.predictor: Predictor = load_predictor(self.ckpt_path, self.backend_name, self.export_dir, self.threads)
        self.monitor = drift_monitor(self.ckpt_path, self.export_dir, self.drift_config)
        self.next_log = 0

    def decode_request(self, request: PredictRequest) -> str:
        return request.text

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        started = time.perf_counter()
        inputs = self.predictor.encode(texts)
        outputs = self.predictor.outputs(inputs)
        predictions = self.predictor.decode(outputs, inputs)
        snapshot = self.count(len(texts), started)
        if self.monitor is not None:
            self.monitor.update(
                text_statistics(inputs["input_ids"], inputs["attention_mask"], outputs["logits"],
                                self.predictor.spec.unk_token_id)
            )
        self.publish(snapshot)
        return predictions

    def publish(self, snapshot: dict[str, Any]) -> None:
        """Share the statistics with the HTTP process; log drift every `log_every` requests."""
        if self.monitor is not None:
            snapshot["drift"] = self.monitor.report()
            if self.requests >= self.next_log:
                log_drift(snapshot["drift"])
                self.next_log = self.requests + int(self.drift_config.get("log_every", 100))
        self.shared["metrics"] = snapshot


class TaskAPI(ServedAPI):
    """Tagging, QA and generation through the prediction package's predictor, its model on the chosen backend."""

    def __init__(self, *common: Any, generation: dict[str, Any] | None, **options: Any) -> None:
        super().__init__(*common, **options)
        self.generation = generation

    def load(self) -> None:
        self.predictor = load_task_predictor(
            self.ckpt_path, self.backend_name, self.export_dir, self.threads, self.max_batch_size, self.generation
        )

    def predict(self, examples: list[Any]) -> list[dict[str, Any]]:
        started = time.perf_counter()
        predictions = self.predictor.predict(examples)
        self.shared["metrics"] = self.count(len(examples), started)
        return predictions


class TextTaskAPI(TaskAPI):
    """`{"text"}` in: tags and entities (tagging), or `{"generated"}` (seq2seq, language models)."""

    def decode_request(self, request: PredictRequest) -> str:
        return request.text


class QuestionAnsweringAPI(TaskAPI):
    """`{"question", "context"}` in, `{"answer", "start", "end", "score"}` out."""

    def decode_request(self, request: QuestionRequest) -> dict[str, str]:
        return {"question": request.question, "context": request.context}


TASK_APIS = {
    TaskKind.TOKEN_CLASSIFICATION: TextTaskAPI,
    TaskKind.EXTRACTIVE_QA: QuestionAnsweringAPI,
    TaskKind.SEQ2SEQ: TextTaskAPI,
    TaskKind.LANGUAGE_MODELING: TextTaskAPI,
}
GENERATING = (TaskKind.SEQ2SEQ, TaskKind.LANGUAGE_MODELING)


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
    generation: dict[str, Any] | None = None,
) -> ls.LitServer:
    """A LitServer with /predict, /health (LitServe's) and /metrics (requests, batching, drift for classifiers)."""
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: no such checkpoint")
    kind = checkpoint_kind(ckpt_path)
    if max_chars < 1:
        raise ConfigError(f"max_chars={max_chars} must be at least 1")
    if backend not in BACKENDS:
        raise ConfigError(f"backend='{backend}' is not one of {list(BACKENDS)}")
    if kind in GENERATING and backend != "torch":
        raise ConfigError(f"backend={backend}: {kind.value} checkpoints generate in PyTorch; serve them with backend=torch")
    given = GenerationOptions.from_config(generation).given()  # unknown keys and bad values fail here, not in the worker
    if given and kind not in GENERATING:
        raise ConfigError(f"generation options {sorted(given)} apply to seq2seq and language models, not {kind.value}")
    PredictRequest.max_chars = QuestionRequest.max_chars = max_chars
    shared = multiprocessing.Manager().dict()
    shared["metrics"] = {"backend": backend, "requests": 0, "batches": 0}
    if kind is TaskKind.TEXT_CLASSIFICATION:
        drift = dict(drift or {"enabled": False})
        drift_monitor(ckpt_path, export_dir, drift)  # fail now, not in the worker, when the profile is missing
        api: ServedAPI = ClassifierAPI(ckpt_path, backend, export_dir, shared, max_batch_size, batch_timeout, threads, drift=drift)
    else:
        if (drift or {}).get("enabled"):
            log.info("drift monitoring covers text_classification; serving %s without it", kind.value)
        if backend in ONNX_FILES:
            onnx_file = export_dir_for(ckpt_path, export_dir) / ONNX_FILES[backend]
            if not onnx_file.is_file():
                raise ConfigError(f"backend={backend} needs {onnx_file}: run `python export.py ckpt_path={ckpt_path}` first")
        api = TASK_APIS[kind](ckpt_path, backend, export_dir, shared, max_batch_size, batch_timeout, threads, generation=generation)
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1, timeout=timeout)

    async def metrics() -> dict[str, Any]:
        return dict(shared["metrics"])

    server.app.add_api_route("/metrics", metrics, methods=["GET"])
    return server


def checkpoint_kind(ckpt_path: str) -> TaskKind:
    """The task kind a checkpoint was trained for, refused unless serve.py serves it."""
    kind = ((read_checkpoint(ckpt_path).get(CHECKPOINT_KEY) or {}).get("spec") or {}).get("kind")
    served = [TaskKind.TEXT_CLASSIFICATION, *TASK_APIS]
    if kind not in [k.value for k in served]:
        raise UnsupportedTaskError(f"serve.py serves {', '.join(k.value for k in served)}; {ckpt_path} is {kind}")
    return TaskKind(kind)
