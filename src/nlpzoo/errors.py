"""The project's own error types: every expected failure of user input raises one of these."""


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
