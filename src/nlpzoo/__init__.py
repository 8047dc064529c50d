"""nlpzoo: a PyTorch Lightning model zoo for deep-learning NLP, driven by Hydra configs."""

from typing import Any

from nlpzoo.errors import CheckpointError, ConfigError, DataError, NlpzooError, UnsupportedTaskError

__all__ = ["CheckpointError", "ConfigError", "DataError", "NlpzooError", "UnsupportedTaskError", "load"]
__version__ = "0.1.0"


def load(ckpt_or_dir: str, batch_size: int = 32, device: str = "cpu", generation: dict[str, Any] | None = None) -> Any:
    """A predictor for a checkpoint or run directory: `nlpzoo.load(path).predict(["a text"])`.

    `generation` (seq2seq and language models): max_new_tokens, num_beams, temperature, top_k, top_p, seed, ...
    """
    from nlpzoo.prediction import load as load_predictor  # imported here: `import nlpzoo` stays light

    return load_predictor(ckpt_or_dir, batch_size=batch_size, device=device, generation=generation)
