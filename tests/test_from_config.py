"""`model=PRESET model.from_config=true` builds a tiny, randomly initialised model of the preset's
architecture offline: no hub call (not even for the config of `model.pretrained`), small unless
`model.config_overrides` give sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import pytest
import transformers

from nlpzoo.errors import ConfigError
from nlpzoo.models.hf_backbone import fresh_config
from nlpzoo.tasks import TaskKind
from nlpzoo.training import preflight
from tests.conftest import compose_config
from tests.tiny_transformers import spec

K = TaskKind
# preset -> (the architecture it builds, a task it serves)
PRESETS: dict[str, tuple[str, TaskKind]] = {
    "bert": ("bert", K.TEXT_CLASSIFICATION),
    "minilm": ("bert", K.TEXT_CLASSIFICATION),
    "roberta": ("roberta", K.TOKEN_CLASSIFICATION),
    "distilbert": ("distilbert", K.TEXT_CLASSIFICATION),
    "gpt2": ("gpt2", K.LANGUAGE_MODELING),
    "t5": ("t5", K.SEQ2SEQ),
    "bart": ("bart", K.SEQ2SEQ),
    "marian": ("marian", K.SEQ2SEQ),
    "llama": ("llama", K.LANGUAGE_MODELING),
}
SMALL = 1_000_000  # parameters; the presets' pretrained sizes are 22 M (MiniLM) to 140 M (BART base)


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to read a pretrained config, model or tokenizer (hub or cache) fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"from_config=true asked for a pretrained file: {args}")

    for name in ("AutoConfig", "AutoTokenizer", "AutoModel", "AutoModelForSeq2SeqLM", "AutoModelForCausalLM"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)
    monkeypatch.setattr(transformers.PretrainedConfig, "get_config_dict", refuse)


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.usefixtures("no_hub")
def test_preset_from_config_is_tiny_and_offline(preset: str, tmp_path: Path) -> None:
    model_type, kind = PRESETS[preset]
    cfg = compose_config([f"model={preset}", "model.from_config=true"], tmp_path)
    model = hydra.utils.instantiate(cfg.model, spec=spec(kind, label_names=["a", "b"]), _recursive_=False)
    assert model.model.config.model_type == model_type
    assert sum(p.numel() for p in model.parameters()) < SMALL


@pytest.mark.usefixtures("no_hub")
def test_given_sizes_win_and_the_rest_stay_tiny() -> None:
    config = fresh_config("gpt2", {"hidden_size": 96, "n_layer": 3})  # hidden_size: GPT-2's alias of n_embd
    assert (config.n_embd, config.n_layer, config.n_head) == (96, 3, 2)
    config = fresh_config("t5", {"num_layers": 3})
    assert (config.num_layers, config.num_decoder_layers, config.d_model) == (3, 3, 64)


@pytest.mark.parametrize(
    ("model_type", "message"),
    [(None, "set model.model_type=bert"), ("bertt", "'bertt' is not a transformers model type")],
)
def test_from_config_without_a_known_model_type_names_the_key(model_type: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fresh_config(model_type, {})


@pytest.mark.parametrize(
    ("overrides", "tokenizer"),
    [
        ([], "WordTokenizer"),  # the preset's own (hub) tokenizer is not fetched: it trains one
        (["model.pretrained=null"], "WordTokenizer"),
        (["tokenizer=bpe"], "BpeTokenizer"),  # the user's choice stays
        (["tokenizer.name_or_path=t5-small"], "PretrainedTokenizer"),
    ],
)
def test_from_config_trains_its_vocabulary_unless_a_tokenizer_is_chosen(
    overrides: list[str], tokenizer: str, tmp_path: Path
) -> None:
    cfg = compose_config(["data=multi30k", "model=t5", "model.from_config=true", *overrides], tmp_path)
    preflight(cfg)
    assert cfg.tokenizer._target_ == f"nlpzoo.tokenizers.{tokenizer}"


def test_with_weights_the_preset_keeps_its_own_tokenizer(tmp_path: Path) -> None:
    cfg = compose_config(["data=sst2", "model=minilm"], tmp_path)
    preflight(cfg)
    assert cfg.tokenizer.name_or_path == cfg.model.pretrained
