"""The HTTP side of the server: request schemas, a body-size limit enforced before parsing, error bodies that
never echo the input, and request, latency, batch-size and drift metrics in the Prometheus text format.

These run in the HTTP process (as ASGI middleware and handlers); the batch and drift figures come from the
inference worker through the shared snapshot `PredictorAPI.publish` writes.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from nlpzoo.optional import optional_import

with optional_import("serve"):
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)  # seconds
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)  # requests per model call
PREDICT_PATH = "/predict"
# The most one character takes in a JSON string: an escaped surrogate pair, \ud83d\ude00.
JSON_BYTES_PER_CHAR = 12


class PredictRequest(BaseModel):
    """`{"text": "..."}`: a non-empty string of at most `max_chars` characters, nothing else."""

    model_config = ConfigDict(extra="forbid", strict=True)
    max_chars: ClassVar[int] = 2000  # set from config by `build_server`, before the HTTP workers fork

    text: str

    @field_validator("text")
    @classmethod
    def non_empty_and_bounded(cls, text: str) -> str:
        return bounded_text("text", text, cls.max_chars)


class GenerationRequest(PredictRequest):
    """`{"text": "...", "seed": 7}`: a prompt or source text, and optionally the seed its sampling starts from."""

    seed: int | None = None


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
        return bounded_text(str(info.field_name), text, cls.max_chars)


def body_limit(max_chars: int, fields: int = 2) -> int:
    """The largest body a valid request can have: `fields` strings of `max_chars` characters, plus the JSON around them."""
    return fields * JSON_BYTES_PER_CHAR * max_chars + 1024


@dataclass
class Histogram:
    """Cumulative-bucket histogram as Prometheus reads it; plain data, so the worker can share it in a dict."""

    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, values <= its upper bound (not cumulative)
    total: int = 0
    sum: float = 0.0

    def __post_init__(self) -> None:
        self.buckets = tuple(self.buckets)
        self.counts = self.counts or [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1
                break
        self.total += 1
        self.sum += value

    def state(self) -> dict[str, Any]:
        return asdict(self)

    def exposition(self, name: str, help_text: str) -> list[str]:
        """`name_bucket{le=...}`, `name_sum`, `name_count` lines."""
        lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        cumulative = 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            cumulative += count
            lines.append(f'{name}_bucket{{le="{bound:g}"}} {cumulative}')
        lines += [
            f'{name}_bucket{{le="+Inf"}} {self.total}',
            f"{name}_sum {self.sum:.6f}",
            f"{name}_count {self.total}",
        ]
        return lines


class RequestMetrics:
    """ASGI middleware counting /predict answers by status and timing them, refusals by the body limit included."""

    def __init__(self, app: ASGIApp, record: RequestRecord) -> None:
        self.app, self.record = app, record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PREDICT_PATH:
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.record.observe(status, time.perf_counter() - started)


@dataclass
class RequestRecord:
    """What the HTTP process saw: answers per status code and their latency."""

    statuses: Counter = field(default_factory=Counter)
    latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))

    def observe(self, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        self.latency.observe(seconds)


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` gets 413 before anything parses it (by its Content-Length, or
    as it streams in), so neither a huge body's parsing nor an error echoing it can happen."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self.refuse(send)
            return
        body = bytearray()
        while True:  # at most max_bytes are buffered: chunked bodies are counted as they arrive
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self.refuse(send)
                return
            if not message.get("more_body", False):
                break
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def refuse(self, send: Send) -> None:
        detail = json.dumps({"detail": f"request body over the limit of {self.max_bytes} bytes"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(detail)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": detail})


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422, less the `input` and `ctx` it would echo back: where and what, never the request's text."""
    assert isinstance(error, RequestValidationError)
    detail = [
        {"loc": list(entry.get("loc", ())), "msg": entry.get("msg", ""), "type": entry.get("type", "")}
        for entry in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": detail})


def prometheus_text(record: RequestRecord, worker: dict[str, Any]) -> str:
    """The Prometheus exposition of the HTTP record and the worker's snapshot (batches, drift)."""
    lines = [
        "# HELP nlpzoo_serve_info The served model's task kind and backend.",
        "# TYPE nlpzoo_serve_info gauge",
        f'nlpzoo_serve_info{{backend="{worker.get("backend", "")}",task="{worker.get("task", "")}"}} 1',
        f"# HELP nlpzoo_requests_total Answers to {PREDICT_PATH}, by HTTP status.",
        "# TYPE nlpzoo_requests_total counter",
        *(
            f'nlpzoo_requests_total{{status="{status}"}} {count}'
            for status, count in sorted(record.statuses.items())
        ),
        f"# HELP nlpzoo_request_errors_total Answers to {PREDICT_PATH} with an error status, by class.",
        "# TYPE nlpzoo_request_errors_total counter",
    ]
    for klass, low in (("4xx", 400), ("5xx", 500)):
        errors = sum(count for status, count in record.statuses.items() if low <= status < low + 100)
        lines.append(f'nlpzoo_request_errors_total{{class="{klass}"}} {errors}')
    lines += record.latency.exposition(
        "nlpzoo_request_duration_seconds", f"Time to answer {PREDICT_PATH}, queueing included."
    )
    batches = Histogram(**worker["batch_sizes"]) if "batch_sizes" in worker else Histogram(BATCH_BUCKETS)
    lines += batches.exposition("nlpzoo_batch_size", "Requests per model call, as the server batched them.")
    lines += [
        "# HELP nlpzoo_predict_seconds_total Time the worker spent in model calls.",
        "# TYPE nlpzoo_predict_seconds_total counter",
        f"nlpzoo_predict_seconds_total {worker.get('predict_seconds', 0.0):.6f}",
    ]
    drift = worker.get("drift")
    if drift:
        lines += [
            "# HELP nlpzoo_drift_window_requests Live requests in the drift window.",
            "# TYPE nlpzoo_drift_window_requests gauge",
            f"nlpzoo_drift_window_requests {drift['window']}",
        ]
        for metric, help_text, key in (
            ("psi", "Population stability index against the export's reference.", "psi"),
            ("threshold", "PSI above which the statistic counts as drifted.", "threshold"),
            ("drifted", "1 when the statistic's PSI is over its threshold.", "drifted"),
        ):
            lines += [f"# HELP nlpzoo_drift_{metric} {help_text}", f"# TYPE nlpzoo_drift_{metric} gauge"]
            for statistic, entry in drift["statistics"].items():
                if entry[key] is not None:  # no PSI before min_samples requests: the series is absent
                    lines.append(f'nlpzoo_drift_{metric}{{statistic="{statistic}"}} {float(entry[key]):g}')
    return "\n".join(lines) + "\n"
