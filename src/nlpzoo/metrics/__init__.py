"""Metrics the field reports, computed the way the field computes them (checked against the reference packages)."""

from nlpzoo.lazy import lazy_attributes

_LOCATIONS = {
    "RougeScore": "rouge",
    "SacreBleuScore": "bleu",
    "LanguageModelScore": "language_modeling",
    "token_statistics": "language_modeling",
    "SpanF1": "spans",
    "SquadScore": "squad",
    "best_spans": "squad",
    "exact_match": "squad",
    "normalize_answer": "squad",
    "token_f1": "squad",
}
__all__ = sorted(_LOCATIONS)
__getattr__ = lazy_attributes(__name__, _LOCATIONS)
