"""GPT-style decoders and T5/BART encoder-decoders: fine-tuning, generation, text-to-text classification."""

from __future__ import annotations

import pytest
import torch

from nlpzoo.errors import ConfigError
from nlpzoo.models import PretrainedDecoder, PretrainedEncoderDecoder
from nlpzoo.tasks import OBJECTIVES, TaskKind
from tests.tiny_transformers import random_ids, spec, tiny


def needs_objective(kind: TaskKind) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        kind not in OBJECTIVES, reason=f"no {kind.value} objective on this branch yet ([2/8])"
    )


def fit(module: torch.nn.Module, batch: dict, steps: int, lr: float = 1e-2) -> list[float]:
    """Plain AdamW steps on one batch through the module's own objective; the losses."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr)
    module.train()
    losses = []
    for _ in range(steps):
        loss = module.objective.loss(module(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@needs_objective(TaskKind.LANGUAGE_MODELING)
def test_gpt2_fine_tunes_and_batched_generation_continues_each_prompt_as_alone() -> None:
    torch.manual_seed(0)
    lm = PretrainedDecoder(spec(TaskKind.LANGUAGE_MODELING), **tiny("gpt2"), generation={"max_new_tokens": 5})
    text = random_ids(2, 12)
    losses = fit(lm, {"input_ids": text, "attention_mask": torch.ones_like(text), "labels": text}, steps=25)
    assert losses[-1] < losses[0] / 2

    lm.eval()
    long_prompt, short_prompt = text[0, :8], text[1, :5]
    batch = torch.zeros(2, 8, dtype=torch.long)  # right-padded, as DataModules serve them
    batch[0], batch[1, :5] = long_prompt, short_prompt
    mask = (torch.arange(8) < torch.tensor([[8], [5]])).long()
    together = lm.generate(batch, mask)
    alone = [
        lm.generate(p.unsqueeze(0), torch.ones(1, len(p), dtype=torch.long))
        for p in (long_prompt, short_prompt)
    ]
    assert torch.equal(together[0], alone[0][0]) and torch.equal(together[1], alone[1][0])
    # It learned the text: greedy decoding of a prefix continues it.
    assert torch.equal(alone[0][0, :4], text[0, 8:12])


@needs_objective(TaskKind.LANGUAGE_MODELING)
def test_greedy_beam_and_sampling_decoding() -> None:
    torch.manual_seed(0)
    # No end-of-text id in this vocabulary, so every decoding runs its full length.
    lm = PretrainedDecoder(spec(TaskKind.LANGUAGE_MODELING, eos_token_id=None), **tiny("gpt2")).eval()
    prompt = random_ids(1, 4)
    ones = torch.ones_like(prompt)
    greedy = lm.generate(prompt, ones, max_new_tokens=6)
    # Greedy by hand: append the argmax token six times.
    ids = prompt
    for _ in range(6):
        ids = torch.cat([ids, lm.model(ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(greedy, ids[:, 4:])
    assert torch.equal(lm.generate(prompt, ones, max_new_tokens=6, do_sample=True, top_k=1), greedy)
    beams = lm.generate(prompt, ones, max_new_tokens=6, num_beams=4, length_penalty=0.5)
    assert beams.shape == (1, 6)
    torch.manual_seed(1)
    first = lm.generate(prompt, ones, max_new_tokens=6, do_sample=True, temperature=1.5)
    torch.manual_seed(1)
    assert torch.equal(first, lm.generate(prompt, ones, max_new_tokens=6, do_sample=True, temperature=1.5))
    with pytest.raises(ConfigError, match="unknown key"):
        lm.generate(prompt, ones, num_beamz=2)


def test_gpt2_classifies_from_the_last_real_token_whatever_the_padding() -> None:
    classifier = PretrainedDecoder(
        spec(TaskKind.TEXT_CLASSIFICATION, label_names=["a", "b"]), **tiny("gpt2")
    ).eval()
    ids = random_ids(1, 6)
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 6), torch.zeros(1, 3)], dim=1).long()
    alone = classifier({"input_ids": ids, "attention_mask": torch.ones_like(ids)})["logits"]
    torch.testing.assert_close(classifier({"input_ids": padded, "attention_mask": mask})["logits"], alone)


class WordTokenizer:
    """A fixed toy vocabulary: each known word is one id, followed by [EOS] (3)."""

    vocab = {"negative": 10, "positive": 11, "sst2": 12, "sentence": 13, ":": 14}

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        ids = [self.vocab[w] for w in text.split()]
        return {"input_ids": [*ids, 3] if add_special_tokens else ids}


@pytest.mark.parametrize("model_type", ["t5", "bart"])
def test_text_to_text_classification_learns_labels_as_words(model_type: str) -> None:
    torch.manual_seed(0)
    task = spec(TaskKind.TEXT_CLASSIFICATION, label_names=["negative", "positive"])
    module = PretrainedEncoderDecoder(task, **tiny(model_type), task_prefix="sst2 sentence :")
    module.use_tokenizer(WordTokenizer())
    assert module.label_target_ids.tolist() == [[10, 3], [11, 3]]
    # The label is whether id 20 occurs in the text.
    ids = random_ids(8, 6, seed=3).clamp(min=21)
    ids[::2, 2] = 20
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([1, 0] * 4)}
    fit(module, batch, steps=30)
    module.eval()
    assert torch.equal(module(batch)["logits"].argmax(-1), batch["labels"])


def test_the_t5_task_prefix_goes_before_every_source() -> None:
    torch.manual_seed(0)
    task = spec(TaskKind.TEXT_CLASSIFICATION, label_names=["negative", "positive"])
    prefixed = PretrainedEncoderDecoder(task, **tiny("t5"), task_prefix="sst2 sentence :").eval()
    plain = PretrainedEncoderDecoder(task, **tiny("t5")).eval()
    plain.load_state_dict(prefixed.state_dict())
    for module in (prefixed, plain):
        module.use_tokenizer(WordTokenizer())
    ids = random_ids(2, 5)
    by_hand = torch.cat([torch.tensor([[12, 13, 14]] * 2), ids], dim=1)
    torch.testing.assert_close(
        prefixed({"input_ids": ids, "attention_mask": torch.ones_like(ids)})["logits"],
        plain({"input_ids": by_hand, "attention_mask": torch.ones_like(by_hand)})["logits"],
    )


def test_text_to_text_needs_distinct_label_sequences() -> None:
    task = spec(TaskKind.TEXT_CLASSIFICATION, label_names=["negative", "negative "])
    module = PretrainedEncoderDecoder(task, **tiny("t5"))
    with pytest.raises(ConfigError, match="same target sequence"):
        module.use_tokenizer(WordTokenizer())


@needs_objective(TaskKind.SEQ2SEQ)
@pytest.mark.parametrize("model_type", ["t5", "bart", "marian"])
def test_seq2seq_learns_to_copy_and_generates_with_beams(model_type: str) -> None:
    torch.manual_seed(0)
    module = PretrainedEncoderDecoder(
        spec(TaskKind.SEQ2SEQ), **tiny(model_type), generation={"max_new_tokens": 6, "num_beams": 3}
    )
    source = random_ids(4, 5, seed=4)
    labels = torch.cat([source, torch.full((4, 1), 3)], dim=1)  # copy, then [EOS]
    decoder_input_ids = torch.cat([torch.full((4, 1), 2), labels[:, :-1]], dim=1)  # [BOS] + target
    batch = {
        "input_ids": source,
        "attention_mask": torch.ones_like(source),
        "labels": labels,
        "decoder_input_ids": decoder_input_ids,
    }
    losses = fit(module, batch, steps=100)
    assert losses[-1] < 0.1 * losses[0]
    module.eval()
    with torch.no_grad():
        generated = module(batch)["generated_ids"]  # eval forward decodes, for the metrics
    assert torch.equal(generated[:, 1:6], source)  # after the decoder start token
    short = module.generate(
        source, torch.ones_like(source), max_new_tokens=2, num_beams=2, length_penalty=2.0
    )
    assert short.shape == (4, 3)
