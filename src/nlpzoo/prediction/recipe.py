"""`nlpzoo.load(ckpt_or_run_dir)` and the recipe behind `predict.py`: inputs in, predictions.jsonl out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nlpzoo.checkpoint import LoadedCheckpoint, load_module
from nlpzoo.errors import CheckpointError, ConfigError, DataError, UnsupportedTaskError
from nlpzoo.prediction.base import Example, Predictor
from nlpzoo.prediction.generation import GenerationOptions
from nlpzoo.prediction.language_modeling import LanguageModelPredictor
from nlpzoo.prediction.question_answering import QuestionAnsweringPredictor
from nlpzoo.prediction.seq2seq import Seq2SeqPredictor
from nlpzoo.prediction.text import TextPredictor

PREDICTORS: tuple[type[Predictor], ...] = (
    TextPredictor,
    QuestionAnsweringPredictor,
    Seq2SeqPredictor,
    LanguageModelPredictor,
)


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file as given, or a run directory's best checkpoint (summary.json), else its last."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint file or run directory")
    summary = path / "summary.json"
    if summary.is_file():
        best = json.loads(summary.read_text()).get("best_checkpoint")
        if best and Path(best).is_file():
            return Path(best)
    last = path / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    raise CheckpointError(f"{path} has neither a summary.json naming its best checkpoint nor checkpoints/last.ckpt")


def columns(data_config: dict[str, Any], key: str, fallback: Sequence[str]) -> list[str]:
    """The column name(s) the training data read `key` from, then the generic names."""
    value = data_config.get(key)
    named = [value] if isinstance(value, str) else list(value or [])
    return list(dict.fromkeys([*named, *fallback]))


def predictor_for(
    loaded: LoadedCheckpoint, batch_size: int = 32, device: str = "cpu", generation: GenerationOptions | None = None
) -> Predictor:
    """The predictor of the checkpoint's task kind, reading inputs under the training data's column names."""
    module, tokenizer, data = loaded.module, loaded.tokenizer, loaded.data_config or {}
    kind = module.spec.kind
    generating = Seq2SeqPredictor.kinds + LanguageModelPredictor.kinds
    if generation is not None and generation.given() and kind not in generating:
        raise ConfigError(f"generation options {sorted(generation.given())} apply to seq2seq and language models, not {kind.value}")
    if kind in TextPredictor.kinds:
        return TextPredictor(module, tokenizer, columns(data, "text_column", ["text"]), batch_size, device)
    if kind in QuestionAnsweringPredictor.kinds:
        question, context = data.get("question_column", "question"), data.get("context_column", "context")
        return QuestionAnsweringPredictor(module, tokenizer, question, context, batch_size, device)
    if kind in Seq2SeqPredictor.kinds:
        if module.spec.target_vocab_size is not None and loaded.target_tokenizer is None:
            raise CheckpointError(
                "this seq2seq checkpoint was trained with a separate target tokenizer but does not carry it "
                "(saved before checkpoints stored it), so generations cannot be decoded; retrain it"
            )
        fields = columns(data, "source_column", ["source", "text"])
        return Seq2SeqPredictor(module, tokenizer, fields, generation, batch_size, device)
    if kind in LanguageModelPredictor.kinds:
        fields = columns(data, "text_column", ["text", "prompt"])
        return LanguageModelPredictor(module, tokenizer, fields, generation, batch_size, device)
    served = ", ".join(k.value for p in PREDICTORS for k in p.kinds)
    raise UnsupportedTaskError(f"prediction from raw inputs serves: {served}; this checkpoint is {kind.value}")


def load(
    ckpt_or_dir: str | Path, batch_size: int = 32, device: str = "cpu", generation: dict[str, Any] | None = None
) -> Predictor:
    """A predictor for a checkpoint file or a training run directory; `generation` as in predict.yaml."""
    loaded = load_module(find_checkpoint(ckpt_or_dir))
    return predictor_for(loaded, batch_size, device, GenerationOptions.from_config(generation))


def read_inputs(source: Any) -> list[Example]:
    """A .jsonl file (one object per line), any other file (one text per line), a JSON object string
    or a Hydra dict (one structured example, e.g. a question with its context), or the text itself."""
    if OmegaConf.is_config(source):
        source = OmegaConf.to_container(source, resolve=True)
    if isinstance(source, dict):
        return [source]
    source = str(source)
    if source.lstrip().startswith("{"):
        try:
            return [json.loads(source)]
        except json.JSONDecodeError:
            pass  # a text that happens to start with a brace
    path = Path(source)
    if not path.is_file():
        return [source]
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix != ".jsonl":
        return lines
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not a JSON object: {error}") from error
    return rows


def write_predictions(
    predictor: Predictor, inputs: Sequence[Example], output: str | Path, progress: bool = True
) -> Path:
    """Predictions as jsonl, one line per input with the input echoed under `input`."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    predictions = predictor.predict(list(inputs), progress=progress)
    with output.open("w", encoding="utf-8") as file:
        for example, prediction in zip(inputs, predictions, strict=True):
            file.write(json.dumps({"input": example, **prediction}, ensure_ascii=False) + "\n")
    return output


def run_prediction(cfg: DictConfig) -> Path:
    """The recipe behind `predict.py`: checkpoint + input file or text -> predictions.jsonl."""
    generation = OmegaConf.to_container(cfg.generation, resolve=True) if cfg.get("generation") else None
    predictor = load(cfg.ckpt_path, batch_size=cfg.batch_size, device=cfg.device, generation=generation)
    output = write_predictions(predictor, read_inputs(cfg.input), cfg.output, progress=cfg.progress)
    print(f"predictions: {output}")
    return output

