"""Task objectives (loss, metrics, decoding) per task kind, and the `TaskSpec` contract."""

from __future__ import annotations

from nlpzoo.errors import ConfigError
from nlpzoo.tasks.classification import ClassificationObjective
from nlpzoo.tasks.objective import Batch, Outputs, TaskObjective
from nlpzoo.tasks.spec import TaskKind, TaskSpec
from nlpzoo.tasks.word_embedding import WordEmbeddingObjective

OBJECTIVES: dict[TaskKind, type[TaskObjective]] = {
    TaskKind.TEXT_CLASSIFICATION: ClassificationObjective,
    TaskKind.WORD_EMBEDDING: WordEmbeddingObjective,
}


def build_objective(spec: TaskSpec) -> TaskObjective:
    """The objective for the spec's task kind, or a clear error naming the kinds that have one."""
    try:
        objective_class = OBJECTIVES[spec.kind]
    except KeyError:
        known = ", ".join(sorted(kind.value for kind in OBJECTIVES))
        raise ConfigError(f"no objective for task kind '{spec.kind}'; implemented: {known}") from None
    return objective_class(spec)


__all__ = ["OBJECTIVES", "Batch", "Outputs", "TaskKind", "TaskObjective", "TaskSpec", "build_objective"]
