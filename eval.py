"""Evaluate a checkpoint: `python eval.py ckpt_path=CKPT_OR_RUN_DIR [data.path=...] [data=NAME] [split=test]`."""

import hydra
from omegaconf import DictConfig

import nlpzoo.config  # noqa: F401  (registers config resolvers before Hydra composes)
from nlpzoo.errors import exit_on_user_error


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error(cfg):
        from nlpzoo.evaluation import run_evaluation  # imported here: `--help` stays fast

        run_evaluation(cfg)


if __name__ == "__main__":
    main()
