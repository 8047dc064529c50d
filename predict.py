"""Predict with a checkpoint: `python predict.py ckpt_path=CKPT_OR_RUN_DIR input=FILE_OR_TEXT [output=PATH]`."""

import hydra
from omegaconf import DictConfig

import nlpzoo.config  # noqa: F401  (registers config resolvers before Hydra composes)
from nlpzoo.errors import exit_on_user_error


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error(cfg):
        from nlpzoo.prediction import run_prediction  # imported here: `--help` stays fast

        run_prediction(cfg)


if __name__ == "__main__":
    main()
