"""Export a checkpoint to ONNX (fp32, int8) with parity/accuracy/size checks: `python export.py ckpt_path=CKPT_OR_RUN_DIR`."""

import hydra
from omegaconf import DictConfig

import nlpzoo.config  # noqa: F401  (registers config resolvers before Hydra composes)
from nlpzoo.errors import exit_on_user_error


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error(cfg):
        from nlpzoo.export.pipeline import run_export  # imported here: `--help` needs neither torch nor onnx

        run_export(cfg)


if __name__ == "__main__":
    main()
