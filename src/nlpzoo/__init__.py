"""nlpzoo: a PyTorch Lightning model zoo for deep-learning NLP, driven by Hydra configs."""

from typing import Any

from nlpzoo.errors import CheckpointError, ConfigError, DataError, NlpzooError, UnsupportedTaskError

__all__ = ["CheckpointError", "ConfigError", "DataError", "NlpzooError", "UnsupportedTaskError", "load"]
__version__ = "0.1.0"


def load(ckpt_or_dir: str, batch_size: int = 32, device: str = "cpu") -> Any:
    """A predictor for a checkpoint or run directory: `nlpzoo.load(path).predict(["a text"])`."""
    from nlpzoo.prediction import load as load_predictor  # imported here: `import nlpzoo` stays light

    return load_predictor(ckpt_or_dir, batch_size=batch_size, device=device)
