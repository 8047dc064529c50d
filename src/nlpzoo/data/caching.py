"""Stable cache keys, so a second run of the same data and tokenizer reuses `datasets`' Arrow cache.

`datasets` keys a `map`/`filter` result by hashing the function and its arguments. A lambda
closing over the DataModule, or a tokenizer whose Rust state changes once it has been called
(truncation, padding), hashes differently on every run, and the cache never hits. Here the key
is built from what determines the result: the input's fingerprint, the function's source, its
plain arguments and the tokenizer's serialized vocabulary and rules.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import datasets
from datasets.fingerprint import Hasher
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from nlpzoo.tokenizers.base import TokenizerRecipe

log = logging.getLogger(__name__)


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """Hash of what the tokenizer does (vocabulary, rules, special tokens), not of its call-time state."""
    if not getattr(tokenizer, "is_fast", False):
        return Hasher.hash(tokenizer)
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop("truncation", None)  # set by the last call, not part of what the tokenizer is
    state.pop("padding", None)
    # Not the class name: a tokenizer reloaded from its files may come back as another class.
    return Hasher.hash([json.dumps(state, sort_keys=True), sorted(tokenizer.special_tokens_map.items())])


def _plain_argument(value: Any) -> Any:
    if isinstance(value, PreTrainedTokenizerBase):
        return ("tokenizer", tokenizer_fingerprint(value))
    return value


def function_fingerprint(function: Callable[..., Any]) -> str:
    """The function's module, name and source: a changed function invalidates the cache."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        source = ""
    return Hasher.hash([function.__module__, function.__qualname__, source])


def cached_map(
    dataset: datasets.Dataset,
    function: Callable[..., Any],
    fn_kwargs: dict[str, Any],
    keep: bool = False,
    **options: Any,
) -> datasets.Dataset:
    """`dataset.map` (or `.filter` with `keep=True`) under a fingerprint that is the same on every run.

    `function` must be a module-level function whose output depends only on its rows and `fn_kwargs`.
    """
    fingerprint = Hasher.hash(
        [
            dataset._fingerprint,
            "filter" if keep else "map",
            function_fingerprint(function),
            {key: _plain_argument(value) for key, value in sorted(fn_kwargs.items())},
            {key: value for key, value in sorted(options.items()) if key != "desc"},
        ]
    )
    method = dataset.filter if keep else dataset.map
    return method(function, fn_kwargs=fn_kwargs, new_fingerprint=fingerprint, **options)


def tokenizer_cache_dir() -> Path:
    return Path(datasets.config.HF_DATASETS_CACHE) / "nlpzoo_tokenizers"


def trained_tokenizer(recipe: TokenizerRecipe, texts: Iterable[str]) -> Any:
    """Train the recipe on the texts, or reload the tokenizer an identical earlier run trained."""
    texts = list(texts)
    key = Hasher.hash([recipe.describe(), texts])
    folder = tokenizer_cache_dir() / key
    if (folder / "tokenizer.json").is_file():
        log.info("reusing the %s tokenizer trained earlier on the same texts: %s", recipe.kind, folder)
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    tokenizer = recipe.build(texts)
    if datasets.is_caching_enabled():
        tokenizer.save_pretrained(str(folder))
    return tokenizer
