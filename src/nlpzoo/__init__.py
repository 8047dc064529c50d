"""nlpzoo: a PyTorch Lightning model zoo for deep-learning NLP, driven by Hydra configs."""

import os
from typing import TYPE_CHECKING

# OpenMP threads that spin while waiting made a training step 4-5x slower whenever another process
# shares the cores (12-17 s vs 3.1 s per multi30k_transformer step on 2 shared cores, measured); it must
# be set before torch loads its OpenMP runtime, and the user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nlpzoo.errors import CheckpointError, ConfigError, DataError, NlpzooError, UnsupportedTaskError
from nlpzoo.lazy import lazy_attributes

__all__ = ["CheckpointError", "ConfigError", "DataError", "NlpzooError", "UnsupportedTaskError", "load"]
__version__ = "0.1.0"

# `nlpzoo.load(ckpt_or_run_dir, backend=...)` is `nlpzoo.prediction.load`, imported on first use so that
# `import nlpzoo` stays light (no torch).
__getattr__ = lazy_attributes(__name__, {"load": "prediction"})
if TYPE_CHECKING:
    from nlpzoo.prediction import load
