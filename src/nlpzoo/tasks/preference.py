"""Preference alignment by DPO (Rafailov et al. 2023): learn from (prompt, chosen, rejected) pairs without a
reward model, against a frozen reference policy.

loss = -log sigmoid(beta * ((log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x)))) (their eq. 7),
each log-probability summed over the response's tokens. The implicit reward of a response is
beta * (log pi(y|x) - log ref(y|x)); a pair is ranked right when the chosen one's reward is the higher.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric, MetricCollection

from nlpzoo.errors import ConfigError
from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective
from nlpzoo.tasks.spec import IGNORE_INDEX, TaskKind, TaskSpec

# What the family returns: summed response log-probabilities (batch,) under the policy and the reference.
LOG_PROB_KEYS = ("chosen_logps", "rejected_logps", "reference_chosen_logps", "reference_rejected_logps")
STATISTICS = ("reward_accuracy", "reward_margin", "chosen_reward", "rejected_reward")


def sequence_log_probs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, T, V) causal-LM logits and (B, T) labels -> (B,) log-probability of each row's scored tokens.

    Logits at t predict the label at t + 1; labels are IGNORE_INDEX where nothing is scored (prompt, padding).
    """
    token_nll = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), labels[:, 1:], ignore_index=IGNORE_INDEX, reduction="none"
    )  # (B, T-1), 0 where ignored
    return -token_nll.sum(-1)


def dpo_rewards(outputs: Outputs, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The implicit rewards (B,) of the chosen and the rejected responses: beta * log(pi / ref)."""
    chosen = beta * (outputs["chosen_logps"] - outputs["reference_chosen_logps"])
    rejected = beta * (outputs["rejected_logps"] - outputs["reference_rejected_logps"])
    return chosen, rejected


class PreferenceObjective(TaskObjective):
    """DPO loss; reward accuracy (chosen reward > rejected), margin, and the mean chosen/rejected rewards.

    `beta` is the strength of the KL penalty toward the reference (TRL's default 0.1). The family
    computes the four log-probabilities (`LOG_PROB_KEYS`); the reference's carry no gradient.
    """

    kind = TaskKind.PREFERENCE
    monitor = "loss"  # accuracy over a few hundred pairs ties often; the DPO loss ranks checkpoints finer
    mode = "min"

    def __init__(self, spec: TaskSpec, beta: float = 0.1) -> None:
        super().__init__(spec)
        if beta <= 0:
            raise ConfigError(f"model.objective.beta={beta} must be > 0")
        self.beta = beta

    def task_loss(self, outputs: Outputs, batch: Batch) -> torch.Tensor:
        chosen, rejected = dpo_rewards(outputs, self.beta)
        return -F.logsigmoid(chosen - rejected).mean()

    def statistics(self, outputs: Outputs) -> dict[str, torch.Tensor]:
        """Per pair (B,): whether the chosen reward is the higher, the margin, and both rewards."""
        chosen, rejected = (reward.detach().float() for reward in dpo_rewards(outputs, self.beta))
        return {
            "reward_accuracy": (chosen > rejected).float(),
            "reward_margin": chosen - rejected,
            "chosen_reward": chosen,
            "rejected_reward": rejected,
        }

    def training_logs(self, outputs: Outputs, batch: Batch) -> dict[str, torch.Tensor]:
        return {name: values.mean() for name, values in self.statistics(outputs).items()}

    def metrics(self) -> MetricCollection:
        return MetricCollection({name: MeanMetric() for name in STATISTICS}, compute_groups=False)

    def update_metrics(self, metrics: MetricCollection, outputs: Outputs, batch: Batch) -> None:
        for name, values in self.statistics(outputs).items():
            metrics[name].update(values)

    def predict(self, outputs: Outputs, batch: Batch) -> list[dict[str, Any]]:
        """Per pair: both rewards, their margin, and whether the model prefers the chosen response."""
        values = {name: v.tolist() for name, v in self.statistics(outputs).items()}
        return [
            {
                "chosen_reward": chosen,
                "rejected_reward": rejected,
                "margin": margin,
                "prefers_chosen": bool(right),
            }
            for chosen, rejected, margin, right in zip(
                values["chosen_reward"],
                values["rejected_reward"],
                values["reward_margin"],
                values["reward_accuracy"],
                strict=True,
            )
        ]
