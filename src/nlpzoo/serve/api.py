"""The HTTP server: LitServe batches concurrent /predict requests into one model call.

One API class serves every kind through the prediction package's predictor (`nlpzoo.load(ckpt,
backend=...)`), so a served answer is what `predict()` gives for that input, with drift monitoring for
every kind (`drift_statistics`). Text classification: `{"text"}` -> label and score; tagging: `{"text"}` -> tags and entity spans;
extractive QA: `{"question", "context"}` -> answer span (these on any backend); seq2seq and language
models: `{"text", "seed"?}` -> generated text (PyTorch).

Requests are validated by FastAPI in the HTTP process (`PredictRequest`), after a body-size check
(`serve.http.BodyLimit`), so a malformed request gets its own 4xx and never reaches a batch. One that
passes validation but fails in the model gets its own error too (`Refusal`, `IsolatingLoop`): the
requests batched with it get their answers. The inference worker keeps drift and batch statistics in a
`multiprocessing.Manager` dict, which the HTTP process reads to answer /metrics (Prometheus text, or
JSON with `?format=json`).
"""

# No `from __future__ import annotations`: LitServe reads `decode_request`'s annotation as a class.

import logging
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nlpzoo.optional import optional_import

with optional_import("serve"):
    import litserve as ls
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import PlainTextResponse

from nlpzoo.checkpoint import read_checkpoint
from nlpzoo.errors import ConfigError, UnsupportedTaskError
from nlpzoo.export.runtime import ONNX_FILES, PROFILE_FILE, check_backend, export_dir_for
from nlpzoo.models.base import CHECKPOINT_KEY
from nlpzoo.prediction import GenerationOptions, Predictor, load
from nlpzoo.prediction.generation import GenerationPredictor
from nlpzoo.serve.batching import IsolatingLoop, Refusal
from nlpzoo.serve.drift import DriftMonitor, ReferenceProfile
from nlpzoo.serve.drift_statistics import GENERATING, prompt_token_ids, request_statistics, rows_of
from nlpzoo.serve.http import (
    BATCH_BUCKETS,
    BodyLimit,
    GenerationRequest,
    Histogram,
    PredictRequest,
    QuestionRequest,
    RequestMetrics,
    RequestRecord,
    body_limit,
    prometheus_text,
    validation_error,
)
from nlpzoo.tasks import TaskKind

log = logging.getLogger("nlpzoo.serve")
INT8_BACKENDS = ("torch_int8", "onnx_int8")


def text_example(request: PredictRequest) -> str:
    return request.text


def question_example(request: QuestionRequest) -> dict[str, str]:
    return {"question": request.question, "context": request.context}


def generation_example(request: GenerationRequest) -> tuple[str, int | None]:
    return request.text, request.seed


# Per served kind: the request body (read by LitServe and FastAPI from the annotation) -> the predictor's example.
REQUEST_DECODERS: dict[TaskKind, Callable[[Any], Any]] = {
    TaskKind.TEXT_CLASSIFICATION: text_example,
    TaskKind.TOKEN_CLASSIFICATION: text_example,
    TaskKind.EXTRACTIVE_QA: question_example,
    TaskKind.SEQ2SEQ: generation_example,
    TaskKind.LANGUAGE_MODELING: generation_example,
}


class PredictorAPI(ls.LitAPI):
    """Every served kind: the checkpoint's predictor on the chosen backend, per-request failures, batch and
    drift statistics.

    `predict` gets the requests LitServe batched; the model runs them together when an answer cannot depend
    on its batch-mates (`batch_independent`), else one by one. When a model call fails, its requests are
    retried one by one, so the failure is pinned on the request that causes it.
    """

    def __init__(
        self,
        ckpt_path: str,
        kind: TaskKind,
        backend: str,
        export_dir: str | None,
        shared: Any,
        max_batch_size: int,
        batch_timeout: float,
        threads: int = 0,
        drift: dict[str, Any] | None = None,
        generation: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, loop=IsolatingLoop())
        self.ckpt_path, self.kind, self.backend_name, self.export_dir = ckpt_path, kind, backend, export_dir
        self.shared = shared
        self.threads = threads
        self.drift_config = drift or {"enabled": False}
        self.generation = generation

    @property
    def decode_request(self) -> Callable[[Any], Any]:
        """The request decoder of this kind: LitServe validates /predict bodies against its annotation."""
        return REQUEST_DECODERS[self.kind]

    def setup(self, device: str) -> None:
        configure_worker_logging()
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        self.batch_sizes = Histogram(BATCH_BUCKETS)
        self.predict_seconds = 0.0
        self.predictor: Predictor = load(
            self.ckpt_path,
            batch_size=self.max_batch_size,
            generation=self.generation,
            backend=self.backend_name,
            export_dir=self.export_dir,
            threads=self.threads,
        )
        self.monitor = drift_monitor(self.ckpt_path, self.export_dir, self.drift_config)
        self.next_log = 0
        # Dynamic int8 quantization scales activations by the range of the whole batch (padding included),
        # so an int8 answer would depend on the requests sharing its batch: those run one request at a time.
        # A sampled generation depends on the random draws its batch-mates consume: each request is generated
        # alone under its seed, so it gets the text `predict([request])` gives, batched or not.
        sampled = isinstance(self.predictor, GenerationPredictor) and samples(
            self.kind, self.predictor.options
        )
        self.batch_independent = self.backend_name not in INT8_BACKENDS and not sampled

    def refusal(self, example: Any) -> Refusal | None:
        """Why the model would answer this request wrongly (cut it short), before running it; None if it will not.

        A tagger given a text over max_length tokens would tag its first words only: refused, never cut silently.
        """
        if self.kind is not TaskKind.TOKEN_CLASSIFICATION:
            return None
        words = example.split()
        tokens = len(self.predictor.tokenizer(words, is_split_into_words=True)["input_ids"])
        limit = self.predictor.module.spec.max_length
        if tokens <= limit:
            return None
        return Refusal(
            422,
            f"text has {len(words)} words ({tokens} tokens); this tagger reads at most {limit} tokens "
            "and would tag only the first words: send it in shorter pieces (a sentence per request)",
        )

    def answer(self, examples: list[Any]) -> list[dict[str, Any]]:
        """One model call: an answer per example (raises when any example cannot be answered); the drift
        window gets each request's statistics."""
        if isinstance(self.predictor, GenerationPredictor):
            predictions = self.generate(self.predictor, examples)
            token_ids = (
                prompt_token_ids(self.predictor, [text for text, _ in examples]) if self.monitor else []
            )
        else:
            with torch.inference_mode():
                batch = self.predictor.encode(examples)
                predictions = self.predictor.predict_encoded(batch)
            token_ids = rows_of(batch)
        if self.monitor is not None:
            self.monitor.update(request_statistics(self.predictor.module.spec, token_ids, predictions))
        return predictions

    def generate(
        self, predictor: GenerationPredictor, examples: list[tuple[str, int | None]]
    ) -> list[dict[str, Any]]:
        """Generations for (text, seed) requests; a request's own seed overrides the server's."""
        texts = [text for text, _ in examples]
        seed = examples[0][1] if len(examples) == 1 else None  # batched only when greedy: no seed to apply
        options = predictor.options
        server_seed = options.seed
        if seed is not None:
            options.seed = seed
        try:
            return predictor.predict(texts)
        finally:
            options.seed = server_seed

    def batch(self, inputs: list[Any]) -> list[Any]:
        return inputs

    def unbatch(self, outputs: list[Any]) -> list[Any]:
        return outputs

    def encode_response(self, output: Any) -> Any:
        return output

    def predict(self, examples: list[Any]) -> list[Any]:
        started = time.perf_counter()
        answers: list[Any] = [self.checked(example) for example in examples]
        ready = [index for index, answer in enumerate(answers) if answer is None]
        groups = [ready] if self.batch_independent else [[index] for index in ready]
        for group in groups:
            if group:
                for index, answer in zip(group, self.isolated([examples[i] for i in group]), strict=True):
                    answers[index] = answer
        self.batch_sizes.observe(len(examples))
        self.predict_seconds += time.perf_counter() - started
        self.publish()
        return answers

    def checked(self, example: Any) -> Refusal | None:
        """`refusal(example)`, a failure of the check itself being that request's own error too."""
        try:
            return self.refusal(example)
        except Exception as error:
            return self.failed(error)

    def isolated(self, examples: list[Any]) -> list[Any]:
        """The examples' answers; if the model call fails, each example alone, so only the culprit gets a `Refusal`."""
        try:
            return self.answer(examples)
        except Exception as error:
            if len(examples) > 1:
                return [answer for example in examples for answer in self.isolated([example])]
            return [self.failed(error)]

    def failed(self, error: Exception) -> Refusal:
        """The answer for the one request `error` was raised on, logged (with the traceback for a 5xx)."""
        refusal = Refusal.of(error)
        if refusal.status >= 500:
            log.exception("the model failed on one request (answered %d)", refusal.status)
        else:
            log.warning("refused one request (%d): %s", refusal.status, refusal.detail)
        return refusal

    def snapshot(self) -> dict[str, Any]:
        """The statistics /metrics shows: requests, batches and their sizes, time in the model, drift."""
        batches, requests = self.batch_sizes.total, int(self.batch_sizes.sum)
        snapshot = {
            "backend": self.backend_name,
            "task": self.kind.value,
            "requests": requests,
            "batches": batches,
            "mean_batch_size": requests / max(batches, 1),
            "mean_batch_predict_ms": 1000 * self.predict_seconds / max(batches, 1),
            "predict_seconds": self.predict_seconds,
            "batch_sizes": self.batch_sizes.state(),
        }
        if self.monitor is not None:
            snapshot["drift"] = self.monitor.report()
        return snapshot

    def publish(self) -> None:
        """Share the statistics with the HTTP process; log drift every `log_every` requests."""
        snapshot = self.snapshot()
        if "drift" in snapshot and snapshot["requests"] >= self.next_log:
            log_drift(snapshot["drift"])
            self.next_log = snapshot["requests"] + int(self.drift_config.get("log_every", 100))
        self.shared["metrics"] = snapshot


def samples(kind: TaskKind, options: GenerationOptions) -> bool:
    """Whether generation draws random tokens: asked to, or a language model left at its default (from-scratch
    LMs sample unless do_sample=false)."""
    return options.do_sample is True or (kind is TaskKind.LANGUAGE_MODELING and options.do_sample is None)


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
        ReferenceProfile.load(path),
        int(config["window"]),
        dict(config.get("thresholds") or {}),
        int(config["min_samples"]),
    )


def log_drift(report: dict[str, Any]) -> None:
    scores = ", ".join(
        f"{name}={entry['psi']:.3f}" if entry["psi"] is not None else f"{name}=n/a"
        for name, entry in report["statistics"].items()
    )
    level = logging.WARNING if report["drifted"] else logging.INFO
    log.log(
        level,
        "drift PSI over the last %d requests: %s; drifted: %s",
        report["window"],
        scores,
        report["drifted"] or "none",
    )


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
    max_request_bytes: int | None = None,
) -> ls.LitServer:
    """A LitServer with /predict, /health (LitServe's) and /metrics (requests, errors, latency, batching, drift)."""
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: no such checkpoint")
    kind = checkpoint_kind(ckpt_path)
    if max_chars < 1:
        raise ConfigError(f"max_chars={max_chars} must be at least 1")
    max_request_bytes = max_request_bytes or body_limit(max_chars)
    if max_request_bytes < body_limit(max_chars, fields=1):
        raise ConfigError(
            f"max_request_bytes={max_request_bytes} is below what a text of max_chars={max_chars} "
            f"characters can take as JSON ({body_limit(max_chars, fields=1)} bytes); raise it or leave it null"
        )
    check_backend(backend)
    if kind in GENERATING and backend != "torch":
        raise ConfigError(
            f"backend={backend}: {kind.value} checkpoints generate in PyTorch; serve them with backend=torch"
        )
    if backend in ONNX_FILES:
        onnx_file = export_dir_for(ckpt_path, export_dir) / ONNX_FILES[backend]
        if not onnx_file.is_file():
            raise ConfigError(
                f"backend={backend} needs {onnx_file}: run `python export.py ckpt_path={ckpt_path}` first"
            )
    # Unknown keys and bad values fail here, not in the worker.
    given = GenerationOptions.from_config(generation).given()
    if given and kind not in GENERATING:
        raise ConfigError(
            f"generation options {sorted(given)} apply to seq2seq and language models, not {kind.value}"
        )
    drift = dict(drift or {"enabled": False})
    drift_monitor(ckpt_path, export_dir, drift)  # fails now, not in the worker, when the profile is missing
    PredictRequest.max_chars = QuestionRequest.max_chars = max_chars
    shared = multiprocessing.Manager().dict()
    shared["metrics"] = {"backend": backend, "task": kind.value, "requests": 0, "batches": 0}
    api = PredictorAPI(
        ckpt_path,
        kind,
        backend,
        export_dir,
        shared,
        max_batch_size,
        batch_timeout,
        threads,
        drift=drift,
        generation=generation,
    )
    record = RequestRecord()
    # The last is outermost: RequestMetrics also counts the 413s of BodyLimit.
    middlewares = [(BodyLimit, {"max_bytes": max_request_bytes}), (RequestMetrics, {"record": record})]
    server = ls.LitServer(
        api, accelerator="cpu", devices=1, workers_per_device=1, timeout=timeout, middlewares=middlewares
    )
    server.app.add_exception_handler(RequestValidationError, validation_error)

    async def metrics(format: str = "prometheus") -> Any:
        worker = dict(shared["metrics"])
        if format == "json":
            return {
                **worker,
                "responses": {str(status): count for status, count in sorted(record.statuses.items())},
            }
        return PlainTextResponse(prometheus_text(record, worker), media_type="text/plain; version=0.0.4")

    server.app.add_api_route("/metrics", metrics, methods=["GET"])
    return server


def checkpoint_kind(ckpt_path: str) -> TaskKind:
    """The task kind a checkpoint was trained for, refused unless serve.py serves it."""
    kind = ((read_checkpoint(ckpt_path).get(CHECKPOINT_KEY) or {}).get("spec") or {}).get("kind")
    served = list(REQUEST_DECODERS)
    if kind not in [k.value for k in served]:
        raise UnsupportedTaskError(
            f"serve.py serves {', '.join(k.value for k in served)}; {ckpt_path} is {kind}"
        )
    return TaskKind(kind)
