"""Tokenizer recipes: how a run gets its tokenizer, and how a tokenizer travels inside a checkpoint.

Every tokenizer in nlpzoo, trained here or pretrained, is a Hugging Face
`PreTrainedTokenizerFast`, so DataModules batch-encode with one API and any tokenizer saves
with `save_pretrained` and reloads with `AutoTokenizer.from_pretrained`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, normalizers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from nlpzoo.errors import ConfigError

PAD, UNK, BOS, EOS, MASK, CLS, SEP = "[PAD]", "[UNK]", "[BOS]", "[EOS]", "[MASK]", "[CLS]", "[SEP]"
SPECIAL_TOKENS = [PAD, UNK, BOS, EOS, MASK, CLS, SEP]


class TokenizerRecipe:
    """Builds the run's tokenizer from the training texts (trained kinds) or from a name (pretrained)."""

    kind: str = "abstract"
    trains_on_data: bool = True

    def build(self, texts: Iterable[str]) -> PreTrainedTokenizerBase:
        raise NotImplementedError

    def describe(self) -> str:
        """A stable, short identity used in cache keys."""
        return f"{self.kind}:{sorted(vars(self).items())}"


def wrap_backend(backend: Tokenizer, model_max_length: int = 1_000_000) -> PreTrainedTokenizerFast:
    """Give a trained `tokenizers.Tokenizer` the `transformers` API with nlpzoo's special tokens."""
    vocab = backend.get_vocab()
    present = {name: token for name, token in _SPECIAL_TOKEN_ROLES.items() if token in vocab}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
        **present,
    )


_SPECIAL_TOKEN_ROLES = {
    "pad_token": PAD,
    "unk_token": UNK,
    "bos_token": BOS,
    "eos_token": EOS,
    "mask_token": MASK,
    "cls_token": CLS,
    "sep_token": SEP,
}


def text_normalizer(
    lowercase: bool, strip_accents: bool = False, zero_digits: bool = False
) -> normalizers.Normalizer:
    """NFKC (one code point per visible character), then optional lowercasing, accent stripping and
    digits read as 0 (Lample et al. 2016: 1996 and 2003 share one vector)."""
    steps: list[normalizers.Normalizer] = [normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    if zero_digits:
        steps.append(normalizers.Replace(Regex(r"[0-9]"), "0"))
    if strip_accents:
        steps += [normalizers.NFD(), normalizers.StripAccents(), normalizers.NFC()]
    return normalizers.Sequence(steps)


def batched(texts: Iterable[str], size: int = 1000) -> Iterator[list[str]]:
    """Chunks for `Tokenizer.train_from_iterator`, which trains fastest on batches."""
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def tokenizer_to_files(tokenizer: PreTrainedTokenizerBase) -> dict[str, str]:
    """The tokenizer as `save_pretrained` writes it, as {file name: text}; stored in checkpoints."""
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        return {
            path.name: path.read_text(encoding="utf-8") for path in Path(folder).iterdir() if path.is_file()
        }


def tokenizer_from_files(files: dict[str, str]) -> PreTrainedTokenizerBase:
    """Inverse of `tokenizer_to_files`; reads nothing but the given texts (no hub, no remote code)."""
    with tempfile.TemporaryDirectory() as folder:
        for name, text in files.items():
            (Path(folder) / Path(name).name).write_text(text, encoding="utf-8")
        return AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)


def user_turn(tokenizer: PreTrainedTokenizerBase, prompt: str) -> str:
    """`prompt` as one user turn of the tokenizer's chat template, ready for the assistant's answer."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            "this tokenizer has no chat template: use generation.chat=false / model.chat=false (plain continuation)"
        )
    return str(
        tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
    )
