"""The project's own error types: every expected failure of user input raises one of these."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from omegaconf import DictConfig, OmegaConf


class NlpzooError(Exception):
    """Base class: a problem in the user's config, data or checkpoint, with a message saying what to fix."""


class ConfigError(NlpzooError, ValueError):
    """A config key, value or combination that cannot work."""


class DataError(NlpzooError, ValueError):
    """A data source that is missing, empty or malformed."""


class UnsupportedTaskError(ConfigError):
    """A model family was asked to serve a task kind it has no head for."""


class CheckpointError(NlpzooError, ValueError):
    """A checkpoint that cannot be loaded into the requested model."""


class TrainingDivergedError(NlpzooError, ArithmeticError):
    """The training loss became NaN or Inf."""


class MissingExtraError(NlpzooError, ModuleNotFoundError):
    """An optional part's package is not installed; the message names the pip extra that installs it."""


@contextmanager
def exit_on_user_error(cfg: DictConfig) -> Iterator[None]:
    """What every entrypoint runs its recipe in: a user's mistake ends with one `nlpzoo: error:` line and
    status 1, any other exception (a bug) keeps its traceback.

    Required values left out (`ckpt_path: ???`) are reported before the recipe imports anything heavy.
    """
    try:
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required: "
                f"add {' '.join(f'{key}=...' for key in missing)}"
            )
        yield
    except NlpzooError as error:
        print(f"nlpzoo: error: {error}", file=sys.stderr)
        sys.exit(1)
