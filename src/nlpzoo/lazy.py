"""Package namespaces that import a name's submodule on first use (PEP 562), so that importing one family,
DataModule or metric does not import every other one with its libraries (datasets, sacrebleu, gensim...)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, locations: dict[str, str]) -> Callable[[str], Any]:
    """The module-level `__getattr__` of `package`: `name` is imported from `package.locations[name]`."""

    def __getattr__(name: str) -> Any:
        if name not in locations:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        return getattr(importlib.import_module(f"{package}.{locations[name]}"), name)

    return __getattr__
