"""nlpzoo: a PyTorch Lightning model zoo for deep-learning NLP, driven by Hydra configs."""

from typing import TYPE_CHECKING

from nlpzoo.errors import CheckpointError, ConfigError, DataError, NlpzooError, UnsupportedTaskError
from nlpzoo.lazy import lazy_attributes

__all__ = ["CheckpointError", "ConfigError", "DataError", "NlpzooError", "UnsupportedTaskError", "load"]
__version__ = "0.1.0"

# `nlpzoo.load(ckpt_or_run_dir, backend=...)` is `nlpzoo.prediction.load`, imported on first use so that
# `import nlpzoo` stays light (no torch).
__getattr__ = lazy_attributes(__name__, {"load": "prediction"})
if TYPE_CHECKING:
    from nlpzoo.prediction import load
