"""The pieces of the DPO sentiment demonstration (benchmarks/dpo_sentiment.py) on a tiny random Llama:
sampling continuations, pairing best against worst, and the KL of a policy to its reference."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from nlpzoo.alignment import Samples, kl_to_reference, preference_pairs, sample_continuations
from nlpzoo.tasks import IGNORE_INDEX
from tests.conftest import ROOT, SHARED_DATA
from tests.test_llama_family import tiny_llama  # noqa: F401  (the fixture)
from tests.test_preference import by_hand, perturb_adapter, tiny_policy


def test_continuations_are_sampled_per_prompt_and_end_at_eos(tiny_llama: Path) -> None:  # noqa: F811
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    prompts = ["of the king", "my lord , i"]
    samples = sample_continuations(
        model, tokenizer, prompts, per_prompt=3, max_new_tokens=5, seed=0, batch_size=4
    )
    assert len(samples.ids) == len(samples.texts) == 6
    assert samples.prompt_ids == tokenizer(prompts)["input_ids"]
    eos = tokenizer.eos_token_id
    assert all(len(ids) <= 5 and (eos not in ids or ids.index(eos) == len(ids) - 1) for ids in samples.ids)
    assert len(set(map(tuple, samples.ids))) > 1  # sampled, not greedy
    again = sample_continuations(
        model, tokenizer, prompts, per_prompt=3, max_new_tokens=5, seed=0, batch_size=4
    )
    assert again.ids == samples.ids  # seeded
    assert samples.scored_texts()[4].startswith("my lord , i ")


def test_pairs_are_each_prompts_best_and_worst_continuation() -> None:
    samples = Samples(
        ["a", "b", "c"], 3, [[1], [2], [3]], [[5]] * 9, ["x", "y", "z", "u", "", "w", "p", "q", "r"]
    )
    scores = [0.2, 0.9, 0.5, 0.1, 1.0, 0.3, 0.4, 0.4, 0.4]
    pairs = preference_pairs(samples, scores)
    assert pairs == [
        {"prompt": "a", "chosen": "y", "rejected": "x"},
        {"prompt": "b", "chosen": "w", "rejected": "u"},  # the empty continuation is never a response
    ]  # c's continuations all score the same


def test_kl_to_reference_is_zero_for_the_reference_and_the_mean_log_ratio_otherwise() -> None:
    module = tiny_policy()
    samples = Samples(
        ["p", "q"], 2, [[7, 8, 9], [10, 11]], [[12, 13], [14], [15, 16, 17], []], ["", "", "", ""]
    )
    assert kl_to_reference(module, samples) == 0.0  # LoRA starts as the identity: the policy is the reference
    perturb_adapter(module)
    module.eval()
    base = module.model.get_base_model()
    differences = []
    for prompt, new in [([7, 8, 9], [12, 13]), ([7, 8, 9], [14]), ([10, 11], [15, 16, 17])]:
        ids = torch.tensor([prompt + new])
        labels = torch.tensor([[IGNORE_INDEX] * len(prompt) + new])
        policy = by_hand(module.model, ids, torch.ones_like(ids), labels)[0]
        with module.model.disable_adapter():
            reference = by_hand(base, ids, torch.ones_like(ids), labels)[0]
        differences.append(policy - reference)
    assert kl_to_reference(module, samples, batch_size=2) == pytest.approx(sum(differences) / 3, abs=1e-4)


@pytest.mark.slow
def test_dpo_sentiment_script_prints_the_score_and_kl_before_and_after(
    tiny_llama: Path,  # noqa: F811
    tiny_lstm_checkpoint: Path,
    tmp_path: Path,
) -> None:
    command = [
        sys.executable,
        "benchmarks/dpo_sentiment.py",
        f"--classifier={tiny_lstm_checkpoint}",
        f"--base={tiny_llama}",
        f"--data={SHARED_DATA / 'sst2'}",
        f"--out={tmp_path}",
        "--pair-prompts=24",
        "--eval-prompts=4",
        "--max-new-tokens=4",
        "trainer.max_epochs=1",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert 0 < report["pairs"] <= 24
    assert report["reference"]["kl_to_reference"] == 0.0 and math.isfinite(
        report["policy"]["kl_to_reference"]
    )
    assert all(0.0 <= report[name]["mean_positive"] <= 1.0 for name in ("reference", "policy"))
    assert "before DPO (reference): mean P(positive)" in result.stdout
    assert "after DPO (policy): mean P(positive)" in result.stdout
