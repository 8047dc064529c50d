"""Any Hugging Face tokenizer, by hub name or local folder, used as it is (not trained)."""

from __future__ import annotations

from collections.abc import Iterable

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from nlpzoo.errors import ConfigError
from nlpzoo.tokenizers.base import TokenizerRecipe


class PretrainedTokenizer(TokenizerRecipe):
    """Loads `name_or_path` with `AutoTokenizer` (fast tokenizers only; no remote code unless asked)."""

    kind = "pretrained"
    trains_on_data = False

    def __init__(self, name_or_path: str, trust_remote_code: bool = False) -> None:
        self.name_or_path = name_or_path
        self.trust_remote_code = trust_remote_code

    def build(self, texts: Iterable[str] = ()) -> PreTrainedTokenizerBase:
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                self.name_or_path, use_fast=True, trust_remote_code=self.trust_remote_code
            )
        except Exception as error:
            raise ConfigError(
                f"cannot load pretrained tokenizer '{self.name_or_path}' ({type(error).__name__}: {error}); "
                "give a local folder or a hub name reachable from here"
            ) from error
        if not tokenizer.is_fast:
            raise ConfigError(f"tokenizer '{self.name_or_path}' has no fast (Rust) version; nlpzoo needs one")
        return tokenizer
