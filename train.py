"""Train any nlpzoo model family on any task it supports: `python train.py model=lstm data=sst2`."""

import hydra
from omegaconf import DictConfig

import nlpzoo.config  # noqa: F401  (registers config resolvers before Hydra composes)
from nlpzoo.training import run_training


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    summary = run_training(cfg)
    return summary["metrics"].get(cfg.monitor)  # the objective an Optuna sweep optimizes


if __name__ == "__main__":
    main()
