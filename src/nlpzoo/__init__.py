"""nlpzoo: a PyTorch Lightning model zoo for deep-learning NLP, driven by Hydra configs."""

import os
from typing import Any

# OpenMP threads that spin while waiting made a training step 4-5x slower whenever another process
# shares the cores (12-17 s vs 3.1 s per multi30k_transformer step on 2 shared cores, measured); it must
# be set before torch loads its OpenMP runtime, and the user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nlpzoo.errors import CheckpointError, ConfigError, DataError, NlpzooError, UnsupportedTaskError

__all__ = ["CheckpointError", "ConfigError", "DataError", "NlpzooError", "UnsupportedTaskError", "load"]
__version__ = "0.1.0"


def load(
    ckpt_or_dir: str, batch_size: int = 32, device: str = "cpu", generation: dict[str, Any] | None = None
) -> Any:
    """A predictor for a checkpoint or run directory: `nlpzoo.load(path).predict(["a text"])`.

    `generation` (seq2seq and language models): max_new_tokens, num_beams, temperature, top_k, top_p, seed, ...
    """
    from nlpzoo.prediction import load as load_predictor  # imported here: `import nlpzoo` stays light

    return load_predictor(ckpt_or_dir, batch_size=batch_size, device=device, generation=generation)
