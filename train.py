"""Train any nlpzoo model family on any task it supports: `python train.py model=lstm data=sst2`."""

import hydra
from omegaconf import DictConfig

import nlpzoo.config  # noqa: F401  (registers config resolvers before Hydra composes)
from nlpzoo.errors import exit_on_user_error
from nlpzoo.sweeps import run_job


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with exit_on_user_error(cfg):  # the user's config or data: one message line, not a stack trace
        from nlpzoo.training import run_training  # imported here: `--help` needs neither torch nor Lightning

        # The monitored metric of the best checkpoint: the objective an Optuna sweep optimizes. In a
        # sweep (-m) a failing job is recorded in its directory and the sweep goes on.
        return run_job(run_training, cfg)


if __name__ == "__main__":
    main()
