"""Heavy optional parts that a plain `pip install nlpzoo` does not pull: each is a pip extra, and using one
without it fails with the command that installs it (`pip install "nlpzoo[onnx]"`), not a bare ImportError."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from nlpzoo.errors import MissingExtraError

# Package -> the extra of pyproject.toml's optional-dependencies that installs it.
EXTRAS = {
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "onnxscript": "onnx",
    "litserve": "serve",
    "numba": "numba",
    "mlflow": "mlflow",
    "ftfy": "cleaning",
    "datasketch": "cleaning",
}


@contextmanager
def optional_import(extra: str) -> Iterator[None]:
    """Imports inside that find a package missing raise `MissingExtraError` naming `pip install "nlpzoo[extra]"`."""
    try:
        yield
    except ModuleNotFoundError as error:
        if isinstance(error, MissingExtraError):
            raise
        package = (error.name or "a package").split(".")[0]
        raise MissingExtraError(
            f'{package} is not installed, and this part of nlpzoo needs it: pip install "nlpzoo[{extra}]"',
            name=package,
        ) from error


def require(package: str) -> ModuleType:
    """Import `package` (one of `EXTRAS`) for a library that needs it without importing it first."""
    with optional_import(EXTRAS[package]):
        return importlib.import_module(package)


def installed(package: str) -> bool:
    """Whether `package` can be imported, without importing it (for a part with a fallback)."""
    if package in sys.modules:  # None there: imports of it fail
        return sys.modules[package] is not None
    return importlib.util.find_spec(package) is not None
