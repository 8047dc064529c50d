"""Every model family x every task: supported pairs train one step and validate one step through the
real recipe on tiny slices of real data; unsupported pairs fail before training, naming what the
family serves.

The matrix is data: add a family to FAMILIES (its config and the task kinds it must serve), or a
dataset to DATASETS (its config and the overrides that make it a tiny local slice), and every new
pair is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hydra.utils import get_object

from nlpzoo.errors import ConfigError, UnsupportedTaskError
from nlpzoo.tasks import TaskKind
from nlpzoo.training import run_training
from tests.conftest import SHARED_DATA, compose_config
from tests.tiny_transformers import tiny_overrides

K = TaskKind


@dataclass
class Family:
    config: str  # conf/model/<config>.yaml
    serves: set[TaskKind]
    overrides: list[str] = field(default_factory=list)  # tiny sizes


@dataclass
class Dataset:
    config: str  # conf/data/<config>.yaml
    kind: TaskKind
    overrides: list[str] = field(default_factory=list)  # a local slice, a tokenizer


TINY_RNN = ["model.embedding_dim=16", "model.hidden_size=16"]
TINY_TRANSFORMER = ["model.dim=32", "model.heads=2"]
FAMILIES: dict[str, Family] = {
    "recurrent": Family(
        "lstm",
        {K.TEXT_CLASSIFICATION, K.TOKEN_CLASSIFICATION, K.LANGUAGE_MODELING, K.SENTENCE_SIMILARITY, K.NLI},
        TINY_RNN,
    ),
    "seq2seq": Family("seq2seq_attention", {K.SEQ2SEQ}, TINY_RNN),
    "transformer": Family(
        "transformer",
        {K.SEQ2SEQ},
        [*TINY_TRANSFORMER, "model.encoder_layers=1", "model.decoder_layers=1", "model.beam_size=2"],
    ),
    "gpt": Family("gpt", {K.LANGUAGE_MODELING}, [*TINY_TRANSFORMER, "model.layers=1"]),
    "transformer_encoder": Family(
        "transformer_encoder",
        {
            K.TEXT_CLASSIFICATION,
            K.TOKEN_CLASSIFICATION,
            K.EXTRACTIVE_QA,
            K.SENTENCE_SIMILARITY,
            K.NLI,
            K.MASKED_LANGUAGE_MODELING,
        },
        [*TINY_TRANSFORMER, "model.layers=1"],
    ),
    # Hugging Face families, randomly initialised from tiny configs over the data's own vocabulary.
    "bert": Family(
        "bert",
        {
            K.TEXT_CLASSIFICATION,
            K.TOKEN_CLASSIFICATION,
            K.EXTRACTIVE_QA,
            K.SENTENCE_SIMILARITY,
            K.NLI,
            K.MASKED_LANGUAGE_MODELING,
        },
        tiny_overrides("bert"),
    ),
    "gpt2": Family(
        "gpt2",
        {K.LANGUAGE_MODELING, K.SEQ2SEQ, K.TEXT_CLASSIFICATION, K.NLI, K.PREFERENCE},
        tiny_overrides("gpt2"),
    ),
    "llama": Family(
        "llama",
        {K.LANGUAGE_MODELING, K.SEQ2SEQ, K.TEXT_CLASSIFICATION, K.NLI, K.PREFERENCE},
        tiny_overrides("llama"),
    ),
    "t5": Family(
        "t5",
        {K.SEQ2SEQ, K.TEXT_CLASSIFICATION, K.NLI},
        [*tiny_overrides("t5"), "model.generation.max_new_tokens=4", "model.generation.num_beams=1"],
    ),
}

SLICE = [
    "data.max_train_samples=64",
    "data.max_val_samples=16",
    "data.max_test_samples=16",
    "data.batch_size=8",
]
DATA = SHARED_DATA
DATASETS: dict[str, Dataset] = {
    "sst2": Dataset("sst2", K.TEXT_CLASSIFICATION, [f"data.path={DATA / 'sst2'}"]),
    "conll2003": Dataset("conll2003", K.TOKEN_CLASSIFICATION, [f"data.path={DATA / 'conll2003'}"]),
    "squad": Dataset(
        "squad",
        K.EXTRACTIVE_QA,
        [f"data.path={DATA / 'squad' / 'dev-v1.1.json'}", "data.max_length=128", "data.stride=32"],
    ),
    "multi30k": Dataset("multi30k", K.SEQ2SEQ, [f"data.path={DATA / 'multi30k'}"]),
    "tinyshakespeare": Dataset(
        "tinyshakespeare",
        K.LANGUAGE_MODELING,
        [f"data.path={DATA / 'tinyshakespeare' / 'input.txt'}", "tokenizer=char", "data.block_size=32"],
    ),
    "wikitext2_mlm": Dataset(
        "wikitext2_mlm",
        K.MASKED_LANGUAGE_MODELING,
        [f"data.path={DATA / 'wikitext-2'}", "data.block_size=32"],
    ),
    "stsb": Dataset("stsb", K.SENTENCE_SIMILARITY, [f"data.path={DATA / 'stsb'}"]),
    "stsb_siamese": Dataset(
        "stsb", K.SENTENCE_SIMILARITY, [f"data.path={DATA / 'stsb'}", "data.pair_encoding=bi"]
    ),
    "sick": Dataset("sick", K.NLI, [f"data.path={DATA / 'sick' / 'SICK.txt'}"]),
    "sick_siamese": Dataset(
        "sick", K.NLI, [f"data.path={DATA / 'sick' / 'SICK.txt'}", "data.pair_encoding=bi"]
    ),
}

# Options a pair needs beyond the family's defaults.
PAIR_OVERRIDES: dict[tuple[str, str], list[str]] = {
    # Text-to-text classification generates the label names: a word vocabulary of 64 reviews lacks them.
    **{("t5", data): ["tokenizer=bpe"] for data in ("sst2", "sick")},
    # A decoder-only model reads seq2seq pairs as prompt/response sequences.
    **{(decoder, "multi30k"): ["data.prompt='German: {source} English:'"] for decoder in ("gpt2", "llama")},
}
# Supported task kinds whose pair encoding a family refuses (it reads a pair as one sequence).
CROSS_ENCODERS_ONLY = {"gpt2", "llama", "t5"}
SIAMESE = {"stsb_siamese", "sick_siamese"}

RUN = ["debug=fdr", "trainer.enable_progress_bar=false", "callbacks.rich_progress_bar=null", "logger=csv"]


def family_class(family: Family, tmp_path: Path) -> type:
    return get_object(compose_config([f"model={family.config}"], tmp_path).model._target_)


def overrides_for(family_name: str, dataset_name: str) -> list[str]:
    family, dataset = FAMILIES[family_name], DATASETS[dataset_name]
    # A randomly initialised pretrained architecture trains its vocabulary (tokenizer=word) as from-scratch
    # families do, unless the dataset's row chooses one (characters).
    return [
        f"model={family.config}",
        f"data={dataset.config}",
        *dataset.overrides,
        *SLICE,
        *family.overrides,
        *PAIR_OVERRIDES.get((family_name, dataset_name), []),
        *RUN,
    ]


def pairs(supported: bool) -> list[tuple[str, str]]:
    return [
        (f, d)
        for f, family in FAMILIES.items()
        for d, dataset in DATASETS.items()
        if (dataset.kind in family.serves) is supported and not (f in CROSS_ENCODERS_ONLY and d in SIAMESE)
    ]


@pytest.mark.parametrize("family_name", list(FAMILIES))
def test_family_declares_exactly_the_tasks_it_serves(family_name: str, tmp_path: Path) -> None:
    family = FAMILIES[family_name]
    assert set(family_class(family, tmp_path).supported_tasks) == family.serves


@pytest.mark.parametrize(("family_name", "dataset_name"), pairs(supported=True))
def test_supported_pair_trains_and_validates_one_step(
    family_name: str, dataset_name: str, tmp_path: Path
) -> None:
    summary = run_training(compose_config(overrides_for(family_name, dataset_name), tmp_path / "run"))
    assert summary["global_steps"] == 1
    assert "val/loss" in summary["metrics"]


@pytest.mark.parametrize(("family_name", "dataset_name"), pairs(supported=False))
def test_unsupported_pair_fails_before_training_naming_what_it_serves(
    family_name: str, dataset_name: str, tmp_path: Path
) -> None:
    cfg = compose_config(overrides_for(family_name, dataset_name), tmp_path / "run")
    with pytest.raises(UnsupportedTaskError, match="it serves: ") as error:
        run_training(cfg)
    message = str(error.value)
    assert f"cannot serve task '{DATASETS[dataset_name].kind.value}'" in message
    assert all(kind.value in message for kind in FAMILIES[family_name].serves)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("family_name", sorted(CROSS_ENCODERS_ONLY))
def test_cross_encoder_family_refuses_pairs_encoded_apart(family_name: str, tmp_path: Path) -> None:
    cfg = compose_config([*overrides_for(family_name, "sick_siamese"), "tokenizer=bpe"], tmp_path / "run")
    with pytest.raises(ConfigError, match=r"the \w+ family reads a text pair as one"):  # in the preflight
        run_training(cfg)
