"""The recipe behind `export.py`: checkpoint -> ONNX fp32 and int8 -> parity, task metric, size -> drift profile.

Classification reports accuracy; tagging entity F1; extractive QA exact match and F1, each computed by
the task objective's own metrics (as evaluation does). Every kind the server serves gets its drift
reference profile (`serve.drift_statistics`), measured on the split as the server measures live requests.
Seq2seq and language models generate in PyTorch, so they get the profile only (no ONNX): on the split's
sources, or on the complete lines of the language model's split as prompts.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from nlpzoo.checkpoint import LoadedCheckpoint, load_module
from nlpzoo.data.sources import SPLITS
from nlpzoo.errors import ConfigError, UnsupportedTaskError
from nlpzoo.evaluation import evaluation_data_config
from nlpzoo.export.onnx import check_parity, export_onnx, exporter_of, quantize_onnx_dynamic
from nlpzoo.export.runtime import (
    MODEL_INPUTS,
    ONNX_FILES,
    PROFILE_FILE,
    REPORT_FILE,
    Arrays,
    Backend,
    BatchForward,
    build_backend,
    export_dir_for,
    module_size_bytes,
    quantize_torch_dynamic,
)
from nlpzoo.models.base import ZooModule
from nlpzoo.prediction import Predictor, find_checkpoint, predictor_for
from nlpzoo.serve.drift import ReferenceProfile
from nlpzoo.serve.drift_statistics import (
    GENERATING,
    categories,
    prompt_token_ids,
    request_statistics,
    rows_of,
)
from nlpzoo.tasks import TaskKind, TaskObjective

log = logging.getLogger(__name__)

# The task metric export.py reports per backend: accuracy for classification, else these of the objective's.
REPORTED_METRICS = {
    TaskKind.TOKEN_CLASSIFICATION: ("precision", "recall", "f1"),
    TaskKind.EXTRACTIVE_QA: ("exact_match", "f1"),
}
EXPORTED_KINDS = (TaskKind.TEXT_CLASSIFICATION, *REPORTED_METRICS, *GENERATING)


def split_batches(
    loaded: LoadedCheckpoint, split: str, data: DictConfig | None = None
) -> list[dict[str, Any]]:
    """The checkpoint's own data config (patched or replaced by `data`, as eval.py takes it), tokenized with
    its own tokenizer: the padded batches of `split`."""
    if split not in SPLITS:
        raise ConfigError(f"split={split} is not one of {list(SPLITS)}")
    data_cfg = evaluation_data_config(data, loaded.data_config)
    datamodule = hydra.utils.instantiate(data_cfg, tokenizer=None, _convert_="all")
    datamodule.use_tokenizer(loaded.tokenizer)
    datamodule.setup("validate")
    return list(datamodule.split_dataloader(split))


def model_inputs(batch: dict[str, Any]) -> Arrays:
    """The batch's model inputs as int64 numpy arrays, the other keys (labels, offsets, texts) left out."""
    return {key: np.asarray(batch[key], dtype=np.int64) for key in MODEL_INPUTS if key in batch}


def accuracy(backend: Backend, batches: list[dict[str, Any]]) -> float:
    """Share of examples whose argmax logit is the gold label."""
    correct = sum(
        int((backend(model_inputs(b))["logits"].argmax(-1) == np.asarray(b["labels"])).sum()) for b in batches
    )
    return correct / sum(len(b["labels"]) for b in batches)


def task_metrics(backend: Backend, module: ZooModule, batches: list[dict[str, Any]]) -> dict[str, float]:
    """The task objective's metrics over the split with `backend` as the model: entity F1, SQuAD EM/F1."""
    objective: TaskObjective = module.objective
    metrics = objective.metrics()
    forward = BatchForward(backend, module)
    for batch in batches:
        objective.update_metrics(metrics, forward(batch), batch)
    values = metrics.compute()
    return {name: float(values[name]) for name in REPORTED_METRICS[module.spec.kind]}


def first_examples(batches: list[dict[str, Any]], count: int) -> list[Arrays]:
    """The first `count` examples of the split, in their batches (the last one cut)."""
    chosen, left = [], count
    for batch in batches:
        if left <= 0:
            break
        chosen.append({key: value[:left] for key, value in model_inputs(batch).items()})
        left -= len(batch["input_ids"])
    return chosen


def reference_profile(
    predictor: Predictor, batches: list[dict[str, Any]], bins: int, prompts: int
) -> ReferenceProfile:
    """Drift statistics of the split's requests and of the predictor's answers to them, computed as the server
    computes them on live requests (a language model: on up to `prompts` lines of the split)."""
    spec = predictor.module.spec
    parts = []
    if spec.kind is TaskKind.LANGUAGE_MODELING:
        texts = reference_prompts(predictor, batches, prompts)
        # One at a time, as the server answers a sampled request: alone under the seed (the server's default).
        answers = [answer for text in texts for answer in predictor.predict([text])]
        parts.append(request_statistics(spec, prompt_token_ids(predictor, texts), answers))
    else:
        with torch.inference_mode():
            for batch in batches:
                parts.append(request_statistics(spec, rows_of(batch), predictor.predict_encoded(batch)))
    statistics = {name: [value for part in parts for value in part[name]] for name in parts[0]}
    return ReferenceProfile.from_statistics(statistics, categories(spec), bins)


def reference_prompts(predictor: Predictor, batches: list[dict[str, Any]], count: int) -> list[str]:
    """`count` lines spread evenly over a language model's split: its blocks are consecutive pieces of one
    token stream, so joined they give back the text (lines end at end-of-text tokens or newlines)."""
    eos = predictor.module.spec.eos_token_id
    stream = [token for batch in batches for row in batch["input_ids"].tolist() for token in row]
    lines = [
        line.strip()
        for piece in split_at(stream, eos)
        for line in predictor.tokenizer.decode(piece, skip_special_tokens=True).split("\n")
        if line.strip()
    ][1:-1]  # the first and last may be cut mid-line
    return lines[:: max(len(lines) // count, 1)][:count]


def split_at(ids: list[int], separator: int | None) -> list[list[int]]:
    """`ids` cut at every `separator` (dropped); the whole list when there is none."""
    pieces: list[list[int]] = [[]]
    for token in ids:
        if token == separator:
            pieces.append([])
        else:
            pieces[-1].append(token)
    return pieces


def export_profile(
    cfg: DictConfig, loaded: LoadedCheckpoint, folder: Path, batches: list[dict[str, Any]]
) -> dict[str, Any]:
    """Write the drift reference profile beside the model; its summary for the report."""
    profile = reference_profile(predictor_for(loaded), batches, cfg.drift_bins, cfg.drift_prompts)
    profile.save(folder / PROFILE_FILE)
    return {"examples": profile.examples, "summary": profile.summary}


def run_export(cfg: DictConfig) -> dict[str, Any]:
    """Export, quantize and check a classification, tagging or QA checkpoint (a generating one: its drift profile
    only); write artifacts and a report beside it."""
    started = time.time()
    checkpoint = find_checkpoint(
        cfg.ckpt_path
    )  # a run directory: its best checkpoint, as eval.py and predict.py
    loaded = load_module(checkpoint)
    module, spec = loaded.module, loaded.module.spec
    if spec.kind not in EXPORTED_KINDS:
        served = ", ".join(kind.value for kind in EXPORTED_KINDS)
        raise UnsupportedTaskError(f"export.py exports {served}; this checkpoint is {spec.kind.value}")
    classification = spec.kind is TaskKind.TEXT_CLASSIFICATION
    folder = export_dir_for(checkpoint, cfg.get("export_dir"))
    folder.mkdir(parents=True, exist_ok=True)
    batches = split_batches(loaded, cfg.split, cfg.get("data"))
    report: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "split": cfg.split,
        "export_dir": str(folder),
        "backends": {},
    }
    if not classification:
        report["task"] = spec.kind.value
    if spec.kind in GENERATING:  # served by PyTorch's own generation: the drift profile is the artifact
        report["reference_profile"] = export_profile(cfg, loaded, folder, batches)
        return finish_report(report, folder, started)

    onnx_path = folder / ONNX_FILES["onnx"]
    export_onnx(module, model_inputs(batches[0]), onnx_path, cfg.opset)
    report["onnx_exporter"] = exporter_of(onnx_path)  # dynamo, or torchscript for the recurrent family
    quantize_onnx_dynamic(onnx_path, folder / ONNX_FILES["onnx_int8"])
    backends = {
        name: build_backend(name, module, folder) for name in ("torch", "torch_int8", "onnx", "onnx_int8")
    }
    sizes = {
        "torch": module_size_bytes(module),
        "torch_int8": module_size_bytes(quantize_torch_dynamic(module)),
        "onnx": onnx_path.stat().st_size,
        "onnx_int8": (folder / ONNX_FILES["onnx_int8"]).stat().st_size,
    }
    parity_batches = first_examples(batches, cfg.parity_examples)
    for name, backend in backends.items():
        parity = check_parity(backends["torch"], backend, parity_batches, token_level=not classification)
        measured = (
            {"accuracy": accuracy(backend, batches)}
            if classification
            else {"metrics": task_metrics(backend, module, batches)}
        )
        report["backends"][name] = {
            **measured,
            "size_bytes": sizes[name],
            "parity_vs_torch": parity.to_dict(),
        }
    report["reference_profile"] = export_profile(cfg, loaded, folder, batches)
    return finish_report(report, folder, started)


def finish_report(report: dict[str, Any], folder: Path, started: float) -> dict[str, Any]:
    """Time the export, write the report beside the artifacts and print it."""
    report["wall_seconds"] = time.time() - started
    (folder / REPORT_FILE).write_text(json.dumps(report, indent=2))
    print(format_report(report))
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as a table: backend, task metric(s), size, parity with PyTorch."""
    rows = report["backends"]
    if not rows:
        return f"{report['task']}: drift reference profile only (generated in PyTorch)\nartifacts: {report['export_dir']}"
    first = next(iter(rows.values()))
    metrics = {"accuracy": "accuracy"} if "accuracy" in first else {name: name for name in first["metrics"]}
    lines = [
        f"{'backend':<11} "
        + " ".join(f"{name:>11}" for name in metrics)
        + f" {'size MB':>8} {'max|diff|':>10} {'argmax agree':>12}"
    ]
    for name, row in rows.items():
        values = {"accuracy": row["accuracy"]} if "accuracy" in row else row["metrics"]
        parity = row["parity_vs_torch"]
        lines.append(
            f"{name:<11} "
            + " ".join(f"{values[m]:>11.4f}" for m in metrics)
            + f" {row['size_bytes'] / 1e6:>8.2f} "
            f"{parity['max_abs_diff']:>10.2e} {parity['argmax_agreement']:>12.4f}"
        )
    lines.append(f"artifacts: {report['export_dir']}")
    return "\n".join(lines)
