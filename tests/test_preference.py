"""Preference alignment (DPO) on a tiny random Llama with LoRA: the loss is the paper's, the reference is
the base model (the adapter disabled), only the adapter learns, only response tokens count, and a
`train.py data=preference` run ranks its training pairs right."""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import nlpzoo
from nlpzoo.checkpoint import load_module
from nlpzoo.data.preference import PreferenceData
from nlpzoo.errors import ConfigError, DataError
from nlpzoo.evaluation import run_evaluation
from nlpzoo.models import PretrainedDecoder
from nlpzoo.tasks import IGNORE_INDEX, TaskKind
from nlpzoo.tasks.preference import sequence_log_probs
from nlpzoo.tokenizers.pretrained import PretrainedTokenizer
from nlpzoo.training import preflight
from tests.conftest import compose_config
from tests.test_llama_family import SHAKESPEARE, tiny_llama  # noqa: F401  (the fixture)
from tests.tiny_transformers import random_ids, spec, tiny

BETA = 0.1


def tiny_policy(**options: Any) -> PretrainedDecoder:
    torch.manual_seed(0)
    return PretrainedDecoder(spec(TaskKind.PREFERENCE), peft="lora", **tiny("llama"), **options)


def pair_batch(prompt_length: int = 4, length: int = 10) -> dict[str, torch.Tensor]:
    """Two pairs of random prompts + responses; the second pair's rows end in two padding positions."""
    batch = {}
    for role, seed in (("chosen", 0), ("rejected", 1)):
        ids = random_ids(2, length, seed=seed)
        mask = torch.ones_like(ids)
        mask[1, -2:] = 0
        labels = ids.masked_fill(mask == 0, IGNORE_INDEX)
        labels[:, :prompt_length] = IGNORE_INDEX
        batch |= {f"{role}_input_ids": ids, f"{role}_attention_mask": mask, f"{role}_labels": labels}
    return batch


def by_hand(
    model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor
) -> list[float]:
    """Each row's summed log-probability of its labelled tokens, one position at a time."""
    with torch.no_grad():
        log_probs = model(input_ids=ids, attention_mask=mask).logits.log_softmax(-1)
    return [
        sum(
            float(log_probs[row, t - 1, labels[row, t]])
            for t in range(1, ids.shape[1])
            if labels[row, t] != IGNORE_INDEX
        )
        for row in range(ids.shape[0])
    ]


def perturb_adapter(module: PretrainedDecoder) -> None:
    """Non-zero LoRA updates (B starts at zero), so the policy differs from the reference."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in module.model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)


def test_loss_is_the_hand_computed_dpo_loss() -> None:
    module = tiny_policy()
    base = copy.deepcopy(module.model).unload().eval()  # the plain Llama, without the adapter
    perturb_adapter(module)
    module.eval()
    batch = pair_batch()
    outputs = module(batch)
    logps = {}
    for role in ("chosen", "rejected"):
        inputs = (batch[f"{role}_input_ids"], batch[f"{role}_attention_mask"], batch[f"{role}_labels"])
        logps[role] = by_hand(module.model, *inputs)
        logps[f"reference_{role}"] = by_hand(base, *inputs)
        assert outputs[f"{role}_logps"].tolist() == pytest.approx(logps[role], abs=1e-4)
        assert outputs[f"reference_{role}_logps"].tolist() == pytest.approx(
            logps[f"reference_{role}"], abs=1e-4
        )
    margins = [
        BETA * ((pc - rc) - (pr - rr))
        for pc, rc, pr, rr in zip(
            logps["chosen"],
            logps["reference_chosen"],
            logps["rejected"],
            logps["reference_rejected"],
            strict=True,
        )
    ]
    expected = sum(-math.log(1 / (1 + math.exp(-m))) for m in margins) / len(margins)
    assert float(module.objective.loss(outputs, batch)) == pytest.approx(expected, abs=1e-5)
    assert expected != pytest.approx(math.log(2), abs=1e-4)  # the adapter really moved the policy
    statistics = module.objective.training_logs(outputs, batch)
    assert float(statistics["reward_accuracy"]) == sum(m > 0 for m in margins) / len(margins)
    assert float(statistics["reward_margin"]) == pytest.approx(sum(margins) / len(margins), abs=1e-5)


def test_step_zero_policy_is_the_reference_so_the_loss_is_log_2() -> None:
    module = tiny_policy()  # LoRA's B starts at zero: the adapted model computes the base model
    module.train()
    outputs = module(pair_batch())
    assert torch.equal(outputs["chosen_logps"], outputs["reference_chosen_logps"])
    assert torch.equal(outputs["rejected_logps"], outputs["reference_rejected_logps"])
    assert float(module.objective.loss(outputs, pair_batch())) == pytest.approx(math.log(2), abs=1e-7)


def test_gradients_reach_only_the_lora_weights() -> None:
    module = tiny_policy()
    module.train()
    batch = pair_batch()
    module.objective.loss(module(batch), batch).backward()
    with_gradient = {name for name, p in module.named_parameters() if p.grad is not None}
    assert with_gradient and all("lora_" in name for name in with_gradient), sorted(with_gradient)
    assert any("lora_B" in name and module.get_parameter(name).grad.abs().sum() > 0 for name in with_gradient)
    assert all(not p.requires_grad for name, p in module.named_parameters() if "lora_" not in name)


def test_prompt_and_padding_tokens_do_not_count() -> None:
    batch = pair_batch(prompt_length=4)
    labels = batch["chosen_labels"]
    logits = torch.randn(2, 10, 60, generator=torch.Generator().manual_seed(0))
    changed = logits.clone()
    changed[:, :3] += torch.randn(2, 3, 60)  # positions 0-2 predict prompt tokens 1-3
    changed[1, -3:] += torch.randn(3, 60)  # the second row's last positions predict padding
    assert torch.equal(sequence_log_probs(logits, labels), sequence_log_probs(changed, labels))
    changed[:, 3] += torch.randn(2, 60)  # position 3 predicts the first response token
    assert not torch.allclose(sequence_log_probs(logits, labels), sequence_log_probs(changed, labels))


def write_pairs(path: Path, count: int = 64) -> Path:
    """Shakespeare openings continued by a kind or an unkind phrase: the kind one is preferred."""
    lines = [line.split() for line in SHAKESPEARE.read_text().splitlines() if len(line.split()) >= 4]
    rng = random.Random(0)
    rows = []
    for words in rng.sample(lines, count):
        kind, unkind = rng.choice(
            [("good lord", "bad lord"), ("sweet love", "foul love"), ("fair day", "ill day")]
        )
        rows.append({"prompt": " ".join(words[:4]), "chosen": kind, "rejected": unkind})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_preference_batches_score_only_the_responses(tiny_llama: Path, tmp_path: Path) -> None:  # noqa: F811
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    path = tmp_path / "pairs.csv"
    path.write_text("question,better,worse\n" + '"of the king","good lord","bad lord and more"\n' * 8)
    data = PreferenceData(
        tokenizer=PretrainedTokenizer(str(tiny_llama)),
        path=str(path),
        prompt_column="question",
        chosen_column=["chosen", "better"],
        rejected_column="worse",
        max_length=32,
        max_prompt_length=16,
        carve_fraction=0.25,
        batch_size=2,
    )
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    prompt = tokenizer("of the king")["input_ids"]
    chosen = tokenizer("good lord", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    rejected = tokenizer("bad lord and more", add_special_tokens=False)["input_ids"] + [
        tokenizer.eos_token_id
    ]
    width = len(prompt) + len(rejected)
    assert batch["chosen_input_ids"].shape == batch["rejected_input_ids"].shape == (2, width)
    assert batch["chosen_labels"][0].tolist() == [IGNORE_INDEX] * len(prompt) + chosen + [IGNORE_INDEX] * (
        len(rejected) - len(chosen)
    )
    assert batch["rejected_labels"][0].tolist() == [IGNORE_INDEX] * len(prompt) + rejected
    assert batch["chosen_attention_mask"][0].tolist() == [1] * (len(prompt) + len(chosen)) + [0] * (
        len(rejected) - len(chosen)
    )
    assert data.spec.kind == TaskKind.PREFERENCE


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"prompt": "of the", "chosen": "king", "rejected": " "},
            r"row 0: no rejected text in column 'rejected'",
        ),
        (
            {"prompt": "of the", "chosen": [{"role": "assistant", "content": "king"}], "rejected": "lord"},
            r"column 'chosen' holds list, not text",
        ),
    ],
)
def test_unusable_pairs_are_named(tiny_llama: Path, tmp_path: Path, row: dict, message: str) -> None:  # noqa: F811
    path = tmp_path / "pairs.jsonl"
    path.write_text((json.dumps(row) + "\n") * 4)
    data = PreferenceData(tokenizer=PretrainedTokenizer(str(tiny_llama)), path=str(path), carve_fraction=0.25)
    with pytest.raises(DataError, match=message):
        data.setup("fit")


def test_preference_data_needs_lora(tiny_llama: Path, tmp_path: Path) -> None:  # noqa: F811
    overrides = ["data=preference", f"data.path={write_pairs(tmp_path / 'pairs.jsonl')}", "model=llama"]
    cfg = compose_config([*overrides, f"model.pretrained={tiny_llama}"], tmp_path / "run")
    with pytest.raises(ConfigError, match=r"add model\.peft=lora"):
        preflight(cfg)
    with pytest.raises(ConfigError, match=r"add model\.peft=lora"):
        PretrainedDecoder(spec(TaskKind.PREFERENCE), **tiny("llama"))


def test_train_py_dpo_ranks_its_training_pairs_and_keeps_the_base_as_reference(
    tiny_llama: Path,  # noqa: F811
    train_run: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    summary = train_run(
        [
            "data=preference",
            f"data.path={pairs}",
            "model=llama",
            f"model.pretrained={tiny_llama}",
            "model.peft=lora",
            "model.optimizer.lr=0.02",
            "trainer.max_epochs=3",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
        ],
        tiny=False,
    )
    assert (
        summary["global_steps"] == 3 * 7
    )  # 52 training pairs (6 carved each for validation and test), batch 8
    best = summary["best_checkpoint"]
    evaluated = run_evaluation(
        compose_config([f"ckpt_path={best}", "split=train"], tmp_path / "eval", "eval")
    )
    assert evaluated["metrics"]["train/reward_accuracy"] > 0.5
    assert evaluated["metrics"]["train/reward_margin"] > 0

    # The reference is still the base model after training; the policy is not.
    module = load_module(best).module
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    prompt = tokenizer("of the king")["input_ids"]
    response = tokenizer("good lord", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + response])
    labels = torch.tensor([[IGNORE_INDEX] * len(prompt) + response])
    policy, reference = module.policy_and_reference_log_probs(ids, torch.ones_like(ids), labels)
    assert reference.tolist() == pytest.approx(by_hand(base, ids, torch.ones_like(ids), labels), abs=1e-4)
    assert float(policy) > float(reference) + 0.1  # training made the preferred phrase likelier
    assert nlpzoo.load(best, generation={"max_new_tokens": 3}).predict(["of the king"])[0]["generated"]
