"""Answers per request in a batch: a request the model fails on gets its own HTTP error, the others their answers.

LitServe fails every request of a batch when `predict` raises; `PredictorAPI.predict` instead puts a
`Refusal` in place of the answer it could not give, and `IsolatingLoop` sends it to that request only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nlpzoo.errors import NlpzooError
from nlpzoo.optional import optional_import

with optional_import("serve"):
    from litserve.loops import BatchedLoop
    from litserve.utils import LitAPIStatus, PickleableHTTPException


@dataclass
class Refusal:
    """A request's answer when the predictor could not take it: its own HTTP status and why, never its input."""

    status: int
    detail: str

    @classmethod
    def of(cls, error: Exception) -> Refusal:
        """422 for an input the model cannot take (the project's own errors), 500 for anything else."""
        message = str(error)
        message = message if len(message) <= MAX_DETAIL else message[:MAX_DETAIL] + "..."
        if isinstance(error, NlpzooError):
            return cls(422, message)
        return cls(500, f"the model failed on this request: {type(error).__name__}: {message}")


MAX_DETAIL = 300  # characters of an error message sent back (a message may quote part of the input)


class IsolatingLoop(BatchedLoop):
    """LitServe's batched loop, where a `Refusal` in place of an answer goes back to its own request only,
    as an HTTP error; the requests batched with it get their answers (LitServe would fail them all)."""

    def put_response(
        self,
        transport: Any,
        response_queue_id: int,
        uid: str,
        response_data: Any,
        status: LitAPIStatus,
        response_type: Any,
    ) -> None:
        if isinstance(response_data, Refusal):
            response_data = PickleableHTTPException(response_data.status, response_data.detail)
            status = LitAPIStatus.ERROR
        super().put_response(transport, response_queue_id, uid, response_data, status, response_type)
