"""Predictions from a trained checkpoint: `nlpzoo.load(ckpt_or_run_dir).predict(examples)` and `predict.py`.

Raw inputs (texts, pairs, questions with contexts, sources, prompts) are encoded as the task's
DataModule encodes them, run through the module in inference mode, and decoded by the task
objective or the family's own generation.
"""

from nlpzoo.prediction.base import Example, Predictor
from nlpzoo.prediction.generation import GenerationOptions
from nlpzoo.prediction.language_modeling import LanguageModelPredictor
from nlpzoo.prediction.question_answering import QuestionAnsweringPredictor
from nlpzoo.prediction.recipe import (
    find_checkpoint,
    load,
    predictor_for,
    read_inputs,
    run_prediction,
    write_predictions,
)
from nlpzoo.prediction.seq2seq import Seq2SeqPredictor
from nlpzoo.prediction.text import TextPredictor

__all__ = [
    "Example",
    "GenerationOptions",
    "LanguageModelPredictor",
    "Predictor",
    "QuestionAnsweringPredictor",
    "Seq2SeqPredictor",
    "TextPredictor",
    "find_checkpoint",
    "load",
    "predictor_for",
    "read_inputs",
    "run_prediction",
    "write_predictions",
]
