"""The TaskSpec contract: typed fields that survive a checkpoint, and specs saved by older versions."""

from __future__ import annotations

from omegaconf import OmegaConf

from nlpzoo.tasks import TaskKind, TaskSpec


def test_a_spec_round_trips_as_plain_values() -> None:
    spec = TaskSpec(
        kind=TaskKind.SENTENCE_SIMILARITY,
        vocab_size=9,
        score_range=OmegaConf.create([0, 5]),  # as a Hydra config hands it over
    )
    data = spec.to_dict()
    assert data["score_range"] == [0.0, 5.0] and type(data["score_range"]) is list
    assert TaskSpec.from_dict(data) == spec


def test_a_spec_saved_with_the_old_extra_dict_still_loads() -> None:
    # What checkpoints written before the typed fields stored: per-kind values in `extra`.
    seq2seq = {
        "kind": "seq2seq",
        "vocab_size": 100,
        "bos_token_id": 2,
        "target_vocab_size": 80,
        "extra": {
            "decoder_start_token_id": 2,  # restated bos_token_id
            "target_pad_token_id": 1,
            "shared_vocabulary": False,  # restated target_vocab_size is not None
            "seq2seq_task": "summarization",
        },
    }
    spec = TaskSpec.from_dict(seq2seq)
    assert (spec.target_pad_token_id, spec.seq2seq_task, spec.bos_token_id) == (1, "summarization", 2)
    tagging = TaskSpec.from_dict(
        {
            "kind": "token_classification",
            "vocab_size": 50,
            "label_names": ["O", "B-PER", "I-PER"],
            "extra": {"tag_scheme": "iob2", "label_all_subwords": True},  # the latter was never read
        }
    )
    assert tagging.tag_scheme == "iob2" and "extra" not in tagging.to_dict()
    corpus = TaskSpec.from_dict(
        {
            "kind": "word_embedding",
            "vocab_size": 2,
            "extra": {"words": ["a", "b"], "counts": [3, 1], "window": 5, "analogy_restrict_vocab": 2},
        }
    )
    assert (corpus.words, corpus.counts, corpus.analogy_restrict_vocab) == (["a", "b"], [3, 1], 2)
