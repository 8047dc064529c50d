"""`nlpzoo.load(ckpt_or_run_dir, backend=...)` and the recipe behind `predict.py`: inputs in, predictions.jsonl out.

Every caller (predict.py, serve.py, distillation's teacher, a user's script) gets its predictor from
`predictor_for`; a backend other than PyTorch (ONNX Runtime, int8, compiled) replaces only the model
call, so encoding and decoding are the same on every backend.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from nlpzoo.checkpoint import LoadedCheckpoint, load_module
from nlpzoo.errors import CheckpointError, ConfigError, DataError, UnsupportedTaskError
from nlpzoo.export.runtime import BatchForward, build_backend, check_backend, export_dir_for
from nlpzoo.prediction.base import Example, Predictor
from nlpzoo.prediction.generation import GenerationOptions, GenerationPredictor
from nlpzoo.prediction.language_modeling import LanguageModelPredictor
from nlpzoo.prediction.question_answering import QuestionAnsweringPredictor
from nlpzoo.prediction.seq2seq import Seq2SeqPredictor
from nlpzoo.prediction.text import TextPredictor
from nlpzoo.tasks import TaskKind

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
    raise CheckpointError(
        f"{path} has neither a summary.json naming its best checkpoint nor checkpoints/last.ckpt"
    )


def columns(data_config: dict[str, Any], key: str, fallback: Sequence[str]) -> list[str]:
    """The column name(s) the training data read `key` from, then the generic names."""
    value = data_config.get(key)
    named = [value] if isinstance(value, str) else list(value or [])
    return list(dict.fromkeys([*named, *fallback]))


def predictor_for(
    loaded: LoadedCheckpoint,
    batch_size: int = 32,
    device: str = "cpu",
    generation: GenerationOptions | None = None,
    backend: str = "torch",
    export_dir: Path | None = None,
    threads: int = 0,
) -> Predictor:
    """The predictor of the checkpoint's task kind, reading inputs under the training data's column names,
    its model run by `backend` (torch: the module itself; the others read the files export.py wrote in
    `export_dir`)."""
    check_backend(backend)
    predictor = kind_predictor(loaded, batch_size, device, generation)
    if backend != "torch":
        use_backend(predictor, backend, export_dir, threads)
    return predictor


def kind_predictor(
    loaded: LoadedCheckpoint, batch_size: int, device: str, generation: GenerationOptions | None
) -> Predictor:
    """The predictor class of the checkpoint's task kind, built with the training data's column names."""
    module, tokenizer, data = loaded.module, loaded.tokenizer, loaded.data_config or {}
    kind = module.spec.kind
    generating = Seq2SeqPredictor.kinds + LanguageModelPredictor.kinds
    if generation is not None and generation.given() and kind not in generating:
        raise ConfigError(
            f"generation options {sorted(generation.given())} apply to seq2seq and language models, not {kind.value}"
        )
    if kind in TextPredictor.kinds:
        text_columns = columns(data, "text_column", ["text"])
        return TextPredictor(
            module, tokenizer, text_columns, batch_size, device, int(data.get("max_word_chars") or 0)
        )
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
    raise UnsupportedTaskError(
        f"prediction from raw inputs serves: {served}; this checkpoint is {kind.value}"
    )


def use_backend(predictor: Predictor, backend: str, export_dir: Path | None, threads: int = 0) -> None:
    """Run the predictor's model on `backend` instead of the module: only the model call changes."""
    kind = predictor.module.spec.kind.value
    if isinstance(predictor, GenerationPredictor):
        raise ConfigError(
            f"backend={backend}: {kind} checkpoints generate with their own decoding in PyTorch; "
            "use backend=torch"
        )
    if predictor.device.type != "cpu":
        raise ConfigError(f"backend={backend} runs on the CPU; use device=cpu (or backend=torch)")
    if export_dir is None:
        raise ConfigError(f"backend={backend} needs the folder export.py wrote (export_dir)")
    module = predictor.module
    predictor.model_forward = BatchForward(build_backend(backend, module, export_dir, threads), module)


def load(
    ckpt_or_dir: str | Path,
    batch_size: int = 32,
    device: str = "cpu",
    generation: dict[str, Any] | None = None,
    backend: str = "torch",
    export_dir: str | Path | None = None,
    threads: int = 0,
) -> Predictor:
    """A predictor for a checkpoint file or a training run directory: `nlpzoo.load(path).predict(["a text"])`.

    `generation` as in predict.yaml (seq2seq and language models). `backend`: torch, torch_compile,
    torch_int8, onnx or onnx_int8 (the ONNX ones read what export.py wrote beside the checkpoint, or
    in `export_dir`); `threads`: intra-op threads of ONNX Runtime (0: its default).
    """
    checkpoint = find_checkpoint(ckpt_or_dir)
    return predictor_for(
        load_module(checkpoint),
        batch_size,
        device,
        GenerationOptions.from_config(generation),
        backend,
        export_dir_for(checkpoint, export_dir),
        threads,
    )


TABULAR_SUFFIXES = (".csv", ".tsv", ".parquet")  # read by their columns, as training read its data files


def read_inputs(source: Any, data_config: dict[str, Any] | None = None) -> list[Example]:
    """The examples to predict on, from a file, a list, a JSON object string or Hydra dict, or one text.

    Files: .jsonl (one object per line) and tables (.csv, .tsv, .parquet; read as the training data was,
    so the header and the label column are not texts) give rows the predictor reads by the training
    data's column names; any other file gives one text per line. A list gives one example per item
    (a two-item list inside it is a text pair).
    """
    if OmegaConf.is_config(source):
        source = OmegaConf.to_container(source, resolve=True)
    if isinstance(source, (list, tuple)):
        examples = [tuple(item) if isinstance(item, list) and len(item) == 2 else item for item in source]
        return [with_text_pair(example, data_config) for example in examples]
    if isinstance(source, dict):
        return [with_text_pair(source, data_config)]
    source = str(source)
    if source.lstrip().startswith("{"):
        try:
            return [with_text_pair(json.loads(source), data_config)]
        except json.JSONDecodeError:
            pass  # a text that happens to start with a brace
    path = Path(source)
    if not path.is_file():
        return [source]
    suffixes = [suffix.lower() for suffix in path.suffixes if suffix.lower() != ".gz"]
    if suffixes and suffixes[-1] in TABULAR_SUFFIXES:
        from nlpzoo.data.sources import load_local_file  # datasets' readers: imported only for a table

        rows = load_local_file(path, (data_config or {}).get("reader_options")).to_list()
        return [with_text_pair(row, data_config) for row in rows]
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix != ".jsonl":
        return list(lines)
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(with_text_pair(json.loads(line), data_config))
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not a JSON object: {error}") from error
    return rows


def with_text_pair(example: Example, data_config: dict[str, Any] | None) -> Example:
    """A row under the training data's pair column (SICK's `sentence_B`) also as `text_pair`, the name
    the text predictor reads a pair under."""
    column = (data_config or {}).get("text_pair_column")
    if isinstance(example, dict) and column and column in example and "text_pair" not in example:
        return {**example, "text_pair": example[column]}
    return example


def write_predictions(
    predictor: Predictor, inputs: Sequence[Example], output: str | Path, progress: bool = True
) -> tuple[Path, list[dict[str, Any]]]:
    """Predictions as jsonl, one line per input with the input echoed under `input`; the file and its lines."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    predictions = predictor.predict(list(inputs), progress=progress)
    lines = [
        {"input": example, **prediction} for example, prediction in zip(inputs, predictions, strict=True)
    ]
    with output.open("w", encoding="utf-8") as file:
        for line in lines:
            file.write(json.dumps(line, ensure_ascii=False) + "\n")
    return output, lines


def run_directory(checkpoint: Path) -> Path:
    """The training run a checkpoint belongs to (`RUN_DIR/checkpoints/x.ckpt` -> RUN_DIR), else its folder."""
    folder = checkpoint.resolve().parent
    return folder.parent if folder.name == "checkpoints" else folder


def load_pretrained(cfg: DictConfig) -> LoadedCheckpoint:
    """`predict.py model=smollm2`: a pretrained model as it is, before any fine-tuning of ours (as eval.py
    evaluates one), served as a language model, or as the task of `data=NAME` (read for its spec only)."""
    import hydra
    from hydra.utils import get_object

    from nlpzoo.config import validate_config
    from nlpzoo.data.language_modeling import LanguageModelingData
    from nlpzoo.training import build_datamodule

    recipe = hydra.utils.instantiate(cfg.tokenizer) if cfg.get("tokenizer") else None
    if recipe is None or recipe.trains_on_data:
        raise ConfigError(
            "predict.py model=NAME without a checkpoint needs a pretrained family (model=smollm2, "
            "model=llama model.pretrained=...), which brings its tokenizer; else give ckpt_path=..."
        )
    given_data = "_target_" in (cfg.get("data") or {})
    kind = get_object(cfg.data._target_).task_kind if given_data else TaskKind.LANGUAGE_MODELING
    model_class = get_object(cfg.model._target_)
    model_class.check_supported(kind)
    model_class.check_config(cfg)
    validate_config(cfg)
    datamodule = build_datamodule(cfg) if given_data else LanguageModelingData()
    tokenizer = recipe.build(())
    datamodule.use_tokenizer(tokenizer)
    module = hydra.utils.instantiate(cfg.model, spec=datamodule.build_spec(), _recursive_=False)
    module.use_tokenizer(tokenizer)
    module.eval()
    data_config = OmegaConf.to_container(cfg.data, resolve=True) if given_data else None
    tokenizer_config = OmegaConf.to_container(cfg.tokenizer, resolve=True)
    return LoadedCheckpoint(
        module, tokenizer, cast(dict[str, Any] | None, data_config), cast(dict[str, Any], tokenizer_config)
    )


def run_prediction(cfg: DictConfig) -> Path:
    """The recipe behind `predict.py`: checkpoint (or `model=NAME`, a pretrained model as it is) + inputs
    -> predictions.jsonl in the checkpoint's run directory (or this run's, or `output=`); the prediction
    of a single input is printed too."""
    from nlpzoo.evaluation import evaluation_data_config

    generation = GenerationOptions.from_config(
        cast(dict[str, Any], OmegaConf.to_container(cfg.generation, resolve=True))
        if cfg.get("generation")
        else None
    )
    if not cfg.get("ckpt_path") and cfg.get("model"):
        loaded, folder = load_pretrained(cfg), None
        output = Path(cfg.output) if cfg.get("output") else Path(cfg.paths.output_dir) / "predictions.jsonl"
    elif not cfg.get("ckpt_path"):
        raise ConfigError(
            "predict.py needs ckpt_path=PATH_TO_CHECKPOINT_OR_RUN_DIR (or model=NAME: a pretrained model as it is)"
        )
    else:
        checkpoint = find_checkpoint(cfg.ckpt_path)
        loaded = load_module(checkpoint)
        if cfg.get("data"):  # data.KEY=VALUE (as train.py takes them): e.g. the text column of the input file
            data = evaluation_data_config(cfg.get("data"), loaded.data_config)
            loaded = replace(
                loaded, data_config=cast(dict[str, Any], OmegaConf.to_container(data, resolve=True))
            )
        folder = export_dir_for(checkpoint, cfg.get("export_dir"))
        output = Path(cfg.output) if cfg.get("output") else run_directory(checkpoint) / "predictions.jsonl"
    predictor = predictor_for(
        loaded, cfg.batch_size, cfg.device, generation, cfg.get("backend", "torch"), folder
    )
    inputs = read_inputs(cfg.input, loaded.data_config)
    if not inputs:
        raise DataError(f"input={cfg.input} holds no examples to predict on")
    output, lines = write_predictions(predictor, inputs, output, progress=cfg.progress and len(inputs) > 1)
    if len(lines) == 1:
        print(json.dumps(lines[0], ensure_ascii=False))
    print(f"predictions: {output}")
    return output
