"""The real server on a free loopback port: good, bad and concurrent requests, /health, /metrics, drift."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import nlpzoo
from nlpzoo.serve.http import body_limit
from nlpzoo.serve.launch import post_all, running_server

WINDOW = 200


def sst2_dev(shared_data: Path) -> list[str]:
    lines = (shared_data / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t", 1)[1] for line in lines]


def conll_sentences(shared_data: Path) -> list[str]:
    """Sentences of CoNLL-2003 (news wire: names, numbers, headlines), words joined by spaces."""
    sentences, words = [], []
    for line in (shared_data / "conll2003" / "eng.testa").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if words and words[0] != "-DOCSTART-":
                sentences.append(" ".join(words))
            words = []
        else:
            words.append(line.split()[0])
    return sentences


@pytest.fixture(scope="module")
def server(
    exported_lstm: dict[str, Any], tiny_lstm_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`python serve.py` on the ONNX export, started on 127.0.0.1 and stopped after the module's tests."""
    run_dir = tmp_path_factory.mktemp("serve")
    overrides = [
        f"ckpt_path={tiny_lstm_checkpoint}",
        "backend=onnx",
        "max_chars=300",
        "max_batch_size=8",
        "batch_timeout=0.05",
        f"drift.window={WINDOW}",
        f"drift.min_samples={WINDOW}",
        f"hydra.run.dir={run_dir}",
    ]
    with running_server(overrides, run_dir / "server.log") as url:
        yield url


def test_concurrent_requests_match_the_model_called_directly(
    server: str, tiny_lstm_checkpoint: Path, shared_data: Path, exported_lstm: dict
) -> None:
    texts = sst2_dev(shared_data)[:32]
    responses = post_all(server, [{"text": t} for t in texts])
    direct = nlpzoo.load(tiny_lstm_checkpoint, backend="onnx").predict(texts)
    assert [r.status_code for r in responses] == [200] * len(texts)
    for response, expected in zip(responses, direct, strict=True):
        answer = response.json()
        assert answer["label"] == expected["label"] and answer["label"] in ("negative", "positive")
        assert answer["score"] == pytest.approx(expected["score"], abs=1e-5)
    metrics = httpx.get(f"{server}/metrics", params={"format": "json"}).json()
    assert metrics["requests"] >= len(texts)
    assert metrics["batches"] < metrics["requests"]  # concurrent requests shared model calls


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({}, "Field required"),
        ({"texts": "a film"}, "Extra inputs are not permitted"),
        ({"text": 42}, "valid string"),
        ({"text": ["a", "film"]}, "valid string"),
        ({"text": ""}, "text is empty"),
        ({"text": "   \n"}, "text is empty"),
        ({"text": "word " * 100}, "the limit is 300"),
        ("a bare string", "valid dictionary"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message_and_the_server_keeps_serving(
    server: str, payload: Any, problem: str
) -> None:
    response = httpx.post(f"{server}/predict", json=payload, timeout=30)
    assert 400 <= response.status_code < 500
    assert problem in response.text
    assert httpx.post(f"{server}/predict", json={"text": "a fine film"}, timeout=30).status_code == 200


def test_invalid_json_is_a_4xx(server: str) -> None:
    response = httpx.post(
        f"{server}/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and "JSON" in response.text
    assert httpx.get(f"{server}/health").text == "ok"


def test_drift_crosses_the_threshold_only_for_shifted_text(server: str, shared_data: Path) -> None:
    """Reference: SST-2 test sentences (export). Live: SST-2 dev, then CoNLL news, then shuffled characters."""
    post_all(server, [{"text": t} for t in sst2_dev(shared_data)[100 : 100 + WINDOW]])
    in_distribution = httpx.get(f"{server}/metrics", params={"format": "json"}).json()["drift"]
    assert in_distribution["window"] == WINDOW
    assert in_distribution["drifted"] == [], in_distribution

    post_all(server, [{"text": t} for t in conll_sentences(shared_data)[:WINDOW]])
    news = httpx.get(f"{server}/metrics", params={"format": "json"}).json()["drift"]
    assert news["drifted"], news
    assert news["statistics"]["unknown_rate"]["psi"] > news["statistics"]["unknown_rate"]["threshold"]

    rng = random.Random(0)
    shuffled = ["".join(rng.sample(t, len(t))) for t in sst2_dev(shared_data)[:WINDOW]]
    post_all(server, [{"text": t} for t in shuffled])
    scrambled = httpx.get(f"{server}/metrics", params={"format": "json"}).json()["drift"]
    assert "unknown_rate" in scrambled["drifted"], scrambled
    for report in (in_distribution, news, scrambled):
        assert set(report["statistics"]) == {"input_length", "unknown_rate", "predicted_label", "confidence"}


def test_an_oversized_body_gets_a_413_before_it_is_read_and_no_error_echoes_the_input(server: str) -> None:
    limit = body_limit(300)
    # Declared larger than the limit: refused from the headers alone, the 20 MB body never sent.
    with socket.create_connection(
        (urlsplit(server).hostname, urlsplit(server).port), timeout=30
    ) as connection:
        connection.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\n\r\n"
        )
        head = b""
        while chunk := connection.recv(
            4096
        ):  # headers and body may arrive in separate reads; it closes after
            head += chunk
        head = head.decode()
    assert head.startswith("HTTP/1.1 413") and f"over the limit of {limit} bytes" in head
    # Streamed without a length (chunked): counted as it arrives.
    chunks = iter([b'{"text": "', b"x" * limit, b'"}'])
    response = httpx.post(
        f"{server}/predict", content=chunks, headers={"content-type": "application/json"}, timeout=30
    )
    assert response.status_code == 413 and len(response.content) < 200
    # Under the body limit but invalid: the 422 says what is wrong without quoting the text.
    long_text, extra = "unforgettable " * 40, "q" * 5000
    response = httpx.post(f"{server}/predict", json={"text": long_text, "note": extra}, timeout=30)
    assert (
        response.status_code == 422
        and "the limit is 300" in response.text
        and "Extra inputs" in response.text
    )
    assert (
        "unforgettable" not in response.text and extra not in response.text and len(response.content) < 1000
    )
    assert httpx.post(f"{server}/predict", json={"text": "a fine film"}, timeout=30).status_code == 200


def test_metrics_are_prometheus_text_with_errors_latency_batches_and_drift(
    server: str, shared_data: Path
) -> None:
    post_all(server, [{"text": t} for t in sst2_dev(shared_data)[:WINDOW]])  # enough for the drift scores
    httpx.post(f"{server}/predict", json={"text": ""}, timeout=30)
    response = httpx.get(f"{server}/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    samples = prometheus_samples(response.text)
    assert samples['nlpzoo_serve_info{backend="onnx",task="text_classification"}'] == 1
    assert samples['nlpzoo_requests_total{status="200"}'] >= WINDOW
    assert samples['nlpzoo_request_errors_total{class="4xx"}'] >= 1
    assert samples['nlpzoo_request_errors_total{class="5xx"}'] == 0
    answered = sum(value for name, value in samples.items() if name.startswith("nlpzoo_requests_total"))
    assert samples["nlpzoo_request_duration_seconds_count"] == answered
    assert samples['nlpzoo_request_duration_seconds_bucket{le="+Inf"}'] == answered
    buckets = [
        value for name, value in samples.items() if name.startswith("nlpzoo_request_duration_seconds_bucket")
    ]
    assert buckets == sorted(buckets)  # cumulative
    assert (
        samples["nlpzoo_batch_size_count"] < samples["nlpzoo_batch_size_sum"]
    )  # batches of more than one request
    for statistic in ("input_length", "unknown_rate", "predicted_label", "confidence"):
        assert f'nlpzoo_drift_psi{{statistic="{statistic}"}}' in samples
        assert samples[f'nlpzoo_drift_drifted{{statistic="{statistic}"}}'] in (0, 1)


def prometheus_samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, for every sample line of a Prometheus text exposition."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in lines)}


def test_int8_scores_do_not_depend_on_the_batch(
    exported_lstm: dict, tiny_lstm_checkpoint: Path, shared_data: Path, tmp_path: Path
) -> None:
    """Dynamic int8 scales activations by the whole batch's range: the server runs int8 one request at a time."""
    texts = sst2_dev(shared_data)[:16]
    alone = nlpzoo.load(tiny_lstm_checkpoint, backend="onnx_int8")
    expected = [alone.predict([text])[0] for text in texts]
    batched = alone.predict(texts)
    assert (
        max(abs(a["score"] - b["score"]) for a, b in zip(batched, expected, strict=True)) > 0
    )  # batching moves them
    overrides = [
        f"ckpt_path={tiny_lstm_checkpoint}",
        "backend=onnx_int8",
        "max_batch_size=8",
        "batch_timeout=0.5",
        "drift.enabled=false",
        f"hydra.run.dir={tmp_path}",
    ]
    with running_server(overrides, tmp_path / "server.log") as url:
        responses = post_all(url, [{"text": t} for t in texts])
        metrics = httpx.get(f"{url}/metrics", params={"format": "json"}).json()
    assert metrics["batches"] < metrics["requests"]  # LitServe did batch them
    assert [r.json() for r in responses] == expected


def test_serving_refuses_a_missing_profile_or_checkpoint(tiny_lstm_checkpoint: Path, tmp_path: Path) -> None:
    from nlpzoo.errors import ConfigError
    from nlpzoo.serve.api import build_server

    with pytest.raises(ConfigError, match="no drift reference profile"):
        build_server(str(tiny_lstm_checkpoint), export_dir=str(tmp_path), drift={"enabled": True})
    with pytest.raises(ConfigError, match="no such checkpoint"):
        build_server(str(tmp_path / "none.ckpt"))
