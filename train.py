"""Train any nlpzoo model family on any task it supports: `python train.py model=lstm data=sst2`."""

import sys

import hydra
from omegaconf import DictConfig

import nlpzoo.config  # noqa: F401  (registers config resolvers before Hydra composes)
from nlpzoo.errors import NlpzooError
from nlpzoo.sweeps import run_job
from nlpzoo.training import run_training


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        # The monitored metric of the best checkpoint: the objective an Optuna sweep optimizes. In a
        # sweep (-m) a failing job is recorded in its directory and the sweep goes on.
        return run_job(run_training, cfg)
    except NlpzooError as error:  # the user's config or data: a message, not a stack trace
        print(f"nlpzoo: error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
