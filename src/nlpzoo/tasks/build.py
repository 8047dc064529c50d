"""One objective per task kind, and `build_objective`, which picks it for a spec."""

from __future__ import annotations

from typing import Any

from nlpzoo.errors import ConfigError
from nlpzoo.tasks.classification import ClassificationObjective
from nlpzoo.tasks.extractive_qa import ExtractiveQAObjective
from nlpzoo.tasks.language_modeling import CausalLMObjective, MaskedLMObjective
from nlpzoo.tasks.objective import TaskObjective
from nlpzoo.tasks.preference import PreferenceObjective
from nlpzoo.tasks.sentence_pairs import NLIObjective, SentenceSimilarityObjective
from nlpzoo.tasks.seq2seq import Seq2SeqObjective
from nlpzoo.tasks.spec import TaskKind, TaskSpec
from nlpzoo.tasks.token_classification import TokenClassificationObjective
from nlpzoo.tasks.word_embedding import WordEmbeddingObjective

OBJECTIVES: dict[TaskKind, type[TaskObjective]] = {
    TaskKind.TEXT_CLASSIFICATION: ClassificationObjective,
    TaskKind.TOKEN_CLASSIFICATION: TokenClassificationObjective,
    TaskKind.EXTRACTIVE_QA: ExtractiveQAObjective,
    TaskKind.SEQ2SEQ: Seq2SeqObjective,
    TaskKind.LANGUAGE_MODELING: CausalLMObjective,
    TaskKind.MASKED_LANGUAGE_MODELING: MaskedLMObjective,
    TaskKind.SENTENCE_SIMILARITY: SentenceSimilarityObjective,
    TaskKind.NLI: NLIObjective,
    TaskKind.WORD_EMBEDDING: WordEmbeddingObjective,
    TaskKind.PREFERENCE: PreferenceObjective,
}


def build_objective(spec: TaskSpec, options: dict[str, Any] | None = None) -> TaskObjective:
    """The objective for the spec's task kind with its options, or a clear error naming the kinds that have one."""
    try:
        objective_class = OBJECTIVES[spec.kind]
    except KeyError:
        known = ", ".join(sorted(kind.value for kind in OBJECTIVES))
        raise ConfigError(f"no objective for task kind '{spec.kind}'; implemented: {known}") from None
    return objective_class.build(spec, options)
