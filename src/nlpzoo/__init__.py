"""nlpzoo: a PyTorch Lightning model zoo for deep-learning NLP, driven by Hydra configs."""

from nlpzoo.errors import CheckpointError, ConfigError, DataError, NlpzooError, UnsupportedTaskError

__all__ = ["CheckpointError", "ConfigError", "DataError", "NlpzooError", "UnsupportedTaskError"]
__version__ = "0.1.0"
