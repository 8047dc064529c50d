"""Generation from a prompt: GPT (with and without its key/value cache), recurrent LMs and pretrained decoders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import nlpzoo
from nlpzoo.checkpoint import load_module
from nlpzoo.errors import ConfigError, DataError
from nlpzoo.models import GPTModel, PretrainedDecoder
from nlpzoo.prediction import GenerationOptions, LanguageModelPredictor, find_checkpoint, run_prediction
from nlpzoo.tasks import TaskKind, TaskSpec
from nlpzoo.tokenizers import CharTokenizer
from tests.conftest import compose_config
from tests.tiny_transformers import tiny

BLOCK = 32
RUN = [
    "data=tinyshakespeare",
    "tokenizer=char",
    f"data.block_size={BLOCK}",
    "data.max_train_samples=4000",
    "data.max_val_samples=200",
    "data.max_test_samples=100",
    "data.batch_size=32",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
    "logger=csv",
]
FAMILIES = {
    "gpt": [
        "model=gpt",
        "model.dim=32",
        "model.heads=2",
        "model.layers=2",
        "model.scheduler=null",
        "model.optimizer.lr=1e-2",
    ],
    "recurrent": [
        "model=lstm",
        "model.embedding_dim=32",
        "model.hidden_size=32",
        "model.num_layers=2",
        "model.dropout=0.0",
        "model.optimizer.lr=1e-2",
    ],
}
PROMPTS = ["ROMEO:\nWhat ", "First Citizen:\n", "KING"]  # three lengths: batched as three groups


@pytest.fixture(scope="module", params=list(FAMILIES))
def lm_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Path:
    """A tiny character-level LM trained on the head of Tiny Shakespeare through the real recipe."""
    from nlpzoo.training import run_training

    run_dir = tmp_path_factory.mktemp(f"lm_{request.param}") / "run"
    overrides = [*RUN, f"data.path={shared_data / 'tinyshakespeare' / 'input.txt'}", *FAMILIES[request.param]]
    run_training(compose_config(overrides, run_dir))
    return run_dir


def decode_by_hand(
    module: torch.nn.Module, prompt: torch.Tensor, new: int, seed: int | None = None
) -> torch.Tensor:
    """The reference: re-run the whole sequence (GPT: its last BLOCK tokens) through `forward` each step;
    argmax, or a sample from the softmax with a generator seeded `seed`."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    context = BLOCK if isinstance(module, GPTModel) else None  # an RNN's state carries the whole history
    ids = prompt
    for _ in range(new):
        window = ids[:, -context:] if context else ids
        logits = module({"input_ids": window, "attention_mask": torch.ones_like(window)})["logits"][
            :, -1
        ].float()
        if generator is None:
            next_token = logits.argmax(-1, keepdim=True)
        else:
            next_token = torch.multinomial(logits.softmax(-1), 1, generator=generator)
        ids = torch.cat([ids, next_token], dim=1)
    return ids


def test_incremental_decoding_gives_the_tokens_of_full_recomputation(lm_run) -> None:
    loaded = load_module(find_checkpoint(lm_run))
    module, tokenizer = loaded.module, loaded.tokenizer
    prompt = torch.tensor([tokenizer("ROMEO:\nWhat ", add_special_tokens=False)["input_ids"]])  # (1, 12)
    new = 2 * BLOCK  # well past the context window: GPT then re-reads its last BLOCK tokens each step
    with torch.inference_mode():
        assert torch.equal(module.generate(prompt, new, temperature=0), decode_by_hand(module, prompt, new))
        sampled = decode_by_hand(module, prompt, new, seed=0)
        assert len(set(sampled[0, -new:].tolist())) > 5  # a varied continuation, not one repeated token
        generated = module.generate(prompt, new, temperature=1.0, generator=torch.Generator().manual_seed(0))
        assert torch.equal(generated, sampled)
        if isinstance(module, GPTModel):  # GPT: cached and uncached generation agree token for token
            uncached = module.generate(
                prompt, new, temperature=1.0, generator=torch.Generator().manual_seed(0), use_cache=False
            )
            assert torch.equal(uncached, sampled)
            batch = torch.tensor([tokenizer(p[:4], add_special_tokens=False)["input_ids"] for p in PROMPTS])
            state: dict = {}
            for t in range(4, BLOCK):  # step logits match the full forward's at every position
                logits, state = module.net.cached_step(batch[:, :t], state)
                full = module.net(batch[:, :t])[:, -1]
                torch.testing.assert_close(logits, full, atol=1e-5, rtol=1e-5)
                batch = torch.cat([batch, full.argmax(-1, keepdim=True)], dim=1)


def test_prompts_continue_as_alone_repeatably_under_a_seed(lm_run) -> None:
    greedy = nlpzoo.load(lm_run, generation={"do_sample": False, "max_new_tokens": 20})
    together = greedy.predict(PROMPTS)
    assert together == [greedy.predict(p)[0] for p in PROMPTS]
    module, tokenizer = greedy.module, greedy.tokenizer
    first = torch.tensor([tokenizer(PROMPTS[0], add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        expected = module.generate(first, 20, temperature=0)[0, first.shape[1] :].tolist()
    assert together[0]["generated"] == tokenizer.decode(expected, skip_special_tokens=True)
    assert len(together[0]["generated"]) == 20  # characters: one per token

    sampled = {"max_new_tokens": 40, "temperature": 1.0, "top_k": 20, "top_p": 0.95}
    first_run = nlpzoo.load(lm_run, generation={**sampled, "seed": 7}).predict(PROMPTS)
    assert first_run == nlpzoo.load(lm_run, generation={**sampled, "seed": 7}).predict(PROMPTS)
    assert first_run != nlpzoo.load(lm_run, generation={**sampled, "seed": 8}).predict(PROMPTS)
    assert first_run != together


def test_predict_script_generates_with_options_and_refuses_bad_input(lm_run, tmp_path: Path) -> None:
    cfg = compose_config(
        [
            f"ckpt_path={lm_run}",
            "input=KING",
            "progress=false",
            "generation.max_new_tokens=16",
            "generation.temperature=0.8",
            "generation.seed=3",
        ],
        tmp_path / "p",
        config_name="predict",
    )
    (line,) = [json.loads(line) for line in run_prediction(cfg).read_text().splitlines()]
    options = {"max_new_tokens": 16, "temperature": 0.8, "seed": 3}
    assert line == {"input": "KING", **nlpzoo.load(lm_run, generation=options).predict("KING")[0]}
    assert len(line["generated"]) == 16

    with pytest.raises(DataError, match="encode to no token"):
        nlpzoo.load(lm_run).predict([""])
    with pytest.raises(ConfigError, match=r"\['num_beams'\] do not apply"):
        nlpzoo.load(lm_run, generation={"num_beams": 4})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['beams'\]"):
        nlpzoo.load(lm_run, generation={"beams": 4})
    with pytest.raises(ConfigError, match=r"top_p=1\.5 must lie in"):
        GenerationOptions(top_p=1.5)


def test_pretrained_decoder_generates_through_the_predictor(shared_data: Path) -> None:
    text = (shared_data / "tinyshakespeare" / "input.txt").read_text()[:5000]
    tokenizer = CharTokenizer().build(text.splitlines())
    spec = TaskSpec(
        kind=TaskKind.LANGUAGE_MODELING,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        max_length=64,
    )
    torch.manual_seed(0)
    model = PretrainedDecoder(spec, **tiny("gpt2"))
    greedy = LanguageModelPredictor(model, tokenizer, ["text"], GenerationOptions(max_new_tokens=8))
    predictions = greedy.predict(PROMPTS)
    assert predictions == [greedy.predict(p)[0] for p in PROMPTS]  # left padding inside generate()
    ids = torch.tensor([tokenizer("KING", add_special_tokens=False)["input_ids"]])
    expected = model.generate(ids, torch.ones_like(ids), max_new_tokens=8)[0].tolist()
    assert predictions[2]["generated"] == tokenizer.decode(expected, skip_special_tokens=True)

    sampling = GenerationOptions(max_new_tokens=8, do_sample=True, temperature=1.5, seed=1)
    first = LanguageModelPredictor(model, tokenizer, ["text"], sampling).predict(PROMPTS)
    assert first == LanguageModelPredictor(model, tokenizer, ["text"], sampling).predict(PROMPTS)
    assert first != predictions
