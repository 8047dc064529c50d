"""Serve a checkpoint over HTTP: `python serve.py ckpt_path=CKPT_OR_RUN_DIR [backend=torch|onnx|onnx_int8]`.

Classifiers, taggers and QA models on any backend; seq2seq and language models with backend=torch.
"""

import hydra
from omegaconf import DictConfig, OmegaConf

import nlpzoo.config  # noqa: F401  (registers config resolvers before Hydra composes)
from nlpzoo.errors import exit_on_user_error


@hydra.main(version_base="1.3", config_path="conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error(cfg):
        # imported here: `--help` needs neither torch nor litserve
        from nlpzoo.prediction import find_checkpoint
        from nlpzoo.serve.api import build_server
        from nlpzoo.serve.lifecycle import serve_until_stopped

        # a run directory stands for its best checkpoint, beside which export.py wrote
        server = build_server(
            str(find_checkpoint(cfg.ckpt_path)),
            backend=cfg.backend,
            export_dir=cfg.export_dir,
            max_batch_size=cfg.max_batch_size,
            batch_timeout=cfg.batch_timeout,
            max_chars=cfg.max_chars,
            max_request_bytes=cfg.max_request_bytes,
            threads=cfg.threads,
            drift=OmegaConf.to_container(cfg.drift, resolve=True),
            timeout=cfg.timeout,
            generation=OmegaConf.to_container(cfg.generation, resolve=True)
            if cfg.get("generation")
            else None,
        )
    serve_until_stopped(server, cfg.host, cfg.port)  # SIGTERM/SIGINT stop every process it started


if __name__ == "__main__":
    main()
