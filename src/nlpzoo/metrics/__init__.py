"""Metrics the field reports, computed the way the field computes them (checked against the reference packages)."""

from nlpzoo.metrics.generation import RougeScore, SacreBleuScore
from nlpzoo.metrics.language_modeling import LanguageModelScore, token_statistics
from nlpzoo.metrics.spans import SpanF1, extract_spans, infer_scheme
from nlpzoo.metrics.squad import SquadScore, best_spans, exact_match, normalize_answer, token_f1

__all__ = [
    "LanguageModelScore",
    "RougeScore",
    "SacreBleuScore",
    "SpanF1",
    "SquadScore",
    "best_spans",
    "exact_match",
    "extract_spans",
    "infer_scheme",
    "normalize_answer",
    "token_f1",
    "token_statistics",
]
