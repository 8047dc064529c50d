"""Evaluate a checkpoint: `python eval.py ckpt_path=PATH [data=NAME data.path=...] [split=test]`."""

import sys

import hydra
from omegaconf import DictConfig

import nlpzoo.config  # noqa: F401  (registers config resolvers before Hydra composes)
from nlpzoo.errors import NlpzooError
from nlpzoo.evaluation import run_evaluation


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    try:
        run_evaluation(cfg)
    except NlpzooError as error:
        print(f"nlpzoo: error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
