"""Data cleaning before tokenizing (`data.cleaning`): text repair on every split, then whole-example filters.

Text repair rewrites each text field: mojibake (`ftfy.fix_encoding`), Unicode NFKC, control characters,
whitespace. Filters drop whole examples from the `filter_splits` (train by default, so benchmarks stay
comparable): exact duplicates, near duplicates (MinHash LSH, `datasketch`), word-count bounds, inputs in
a language other than the ones named (`langid`, whose model ships in the package), and train examples
whose input text also occurs in validation or test (leakage; with near duplicates on, also a train
input that nearly matches one of theirs). A field that holds a list of
tokens (token classification) is repaired token by token and never changes length, so tags stay aligned;
`repair_text=False` (question answering, whose answers are character offsets) keeps texts as they are.
The report (counts per step and split, a few examples of each) goes to `report_path` as JSON.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets

from nlpzoo.optional import optional_import

log = logging.getLogger(__name__)

# Control characters to delete: C0/C1 controls but tab, newline and carriage return, plus invisible
# format characters that break word matching (zero-width space, BOM, soft hyphen, word joiner).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\ufeff\u00ad\u2060]")
SPACES = re.compile(r"[^\S\n]+")  # runs of whitespace other than newlines (dialogue turns keep theirs)
BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")
FIELD_SEPARATOR = "\x1f"


def fix_mojibake(text: str) -> str:
    """UTF-8 read as Latin-1/cp1252 and similar ('cafÃ©' -> 'café'); ftfy changes nothing else."""
    with optional_import("cleaning"):
        import ftfy
    return ftfy.fix_encoding(text)


def normalize_unicode(text: str) -> str:
    """NFKC: full-width digits and letters, ligatures and compatibility forms become their plain forms."""
    return unicodedata.normalize("NFKC", text)


def remove_control_characters(text: str) -> str:
    return CONTROL.sub("", text)


def repair_whitespace(text: str) -> str:
    """One space between words, no more than one blank line, nothing at either end."""
    text = SPACES.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return BLANK_LINES.sub("\n\n", text).strip()


def words(text: str) -> list[str]:
    return text.split()


def shingles(text: str, size: int) -> set[str]:
    """Character `size`-grams of the lower-cased, space-joined words: one changed word moves few of them."""
    text = " ".join(words(text.lower()))
    if len(text) <= size:
        return {text}
    return {text[i : i + size] for i in range(len(text) - size + 1)}


class Cleaning:
    """The `data.cleaning` block: which repairs and filters run, and where the report goes.

    Repairs default on (they only fix broken text); filters that drop real examples default off, except
    exact duplicates and leakage.
    """

    def __init__(
        self,
        fix_mojibake: bool = True,
        normalize_unicode: bool = True,
        remove_control_characters: bool = True,
        repair_whitespace: bool = True,
        exact_duplicates: bool = True,
        near_duplicates: bool = False,
        near_duplicate_threshold: float = 0.8,
        num_permutations: int = 128,
        shingle_size: int = 5,
        min_words: int | None = None,
        max_words: int | None = None,
        leakage: bool = True,
        languages: list[str] | None = None,
        language_threshold: float = 0.9,
        filter_splits: list[str] | None = None,
        examples_per_step: int = 3,
        report_path: str | None = None,
        seed: int = 1,
    ) -> None:
        self.repairs: list[tuple[str, Callable[[str], str]]] = [
            (name, function)
            for name, function, on in (
                ("fix_mojibake", globals()["fix_mojibake"], fix_mojibake),
                ("normalize_unicode", globals()["normalize_unicode"], normalize_unicode),
                (
                    "remove_control_characters",
                    globals()["remove_control_characters"],
                    remove_control_characters,
                ),
                ("repair_whitespace", globals()["repair_whitespace"], repair_whitespace),
            )
            if on
        ]
        self.exact_duplicates = exact_duplicates
        self.near_duplicates = near_duplicates
        self.near_duplicate_threshold = near_duplicate_threshold
        self.num_permutations = num_permutations
        self.shingle_size = shingle_size
        self.min_words = min_words
        self.max_words = max_words
        self.leakage = leakage
        self.languages = list(languages) if languages is not None else None
        self.language_threshold = language_threshold
        self._language_identifier: Any = None
        self.filter_splits = list(filter_splits) if filter_splits is not None else ["train"]
        self.examples_per_step = examples_per_step
        self.report_path = report_path
        self.seed = seed
        if near_duplicates:
            with optional_import("cleaning"):
                import datasketch  # noqa: F401  (fail at build time, not after reading the data)
        if fix_mojibake:
            with optional_import("cleaning"):
                import ftfy  # noqa: F401
        if self.languages is not None:
            with optional_import("cleaning"):
                import langid  # noqa: F401

    # --- text repair -----------------------------------------------------------------------------
    def repair(self, text: str, report: dict[str, Any]) -> str:
        """Run the repairs on one text, counting each that changed it (with an example before/after)."""
        for name, function in self.repairs:
            fixed = function(text)
            if fixed != text:
                step = report.setdefault(name, {"changed": 0, "examples": []})
                step["changed"] += 1
                if len(step["examples"]) < self.examples_per_step:
                    step["examples"].append({"before": text, "after": fixed})
                text = fixed
        return text

    def repair_value(self, value: Any, report: dict[str, Any]) -> Any:
        """A text, or a list of tokens repaired one by one (a token that repairs to nothing stays as it was)."""
        if isinstance(value, str):
            return self.repair(value, report)
        if isinstance(value, list):
            return [
                self.repair(token, report) or token if isinstance(token, str) else token for token in value
            ]
        return value

    # --- whole-example filters -------------------------------------------------------------------
    def _removed(self, report: dict[str, Any], step: str, index: int, text: str, **why: str) -> None:
        """Count a removed row under `step`, keeping a few examples with why it went (`like=`, ...)."""
        entry = report.setdefault(step, {"removed": 0, "examples": []})
        entry["removed"] += 1
        if len(entry["examples"]) < self.examples_per_step:
            entry["examples"].append(
                {"row": index, "text": text[:300], **{key: value[:300] for key, value in why.items()}}
            )

    def identify_language(self, text: str) -> tuple[str, float]:
        """(ISO 639-1 code, probability) from langid's bundled model, loaded once (about a second)."""
        if self._language_identifier is None:
            with optional_import("cleaning"):
                from langid.langid import LanguageIdentifier, model
            self._language_identifier = LanguageIdentifier.from_modelstring(model, norm_probs=True)
        language, probability = self._language_identifier.classify(text)
        return str(language), float(probability)

    def minhash(self, text: str) -> Any:
        """The MinHash signature of a text's character shingles."""
        from datasketch import MinHash

        signature = MinHash(num_perm=self.num_permutations, seed=self.seed)
        signature.update_batch([s.encode("utf-8") for s in shingles(text, self.shingle_size)])
        return signature

    def near_matches(self, lsh: Any, signatures: dict[Any, Any], signature: Any) -> list[Any]:
        """Keys in `lsh` whose estimated Jaccard with `signature` passes the threshold (LSH buckets only
        give candidates)."""
        return [
            other
            for other in lsh.query(signature)
            if signature.jaccard(signatures[other]) >= self.near_duplicate_threshold
        ]

    def filter_rows(
        self, keys: list[str], inputs: list[str], report: dict[str, Any], held_out: set[str]
    ) -> list[int]:
        """Indices of the rows to keep: the first of each duplicate group, in bounds, not leaked."""
        lsh = held_out_lsh = None
        held_out_signatures: dict[str, Any] = {}
        if self.near_duplicates:
            with optional_import("cleaning"):
                from datasketch import MinHashLSH
            lsh = MinHashLSH(threshold=self.near_duplicate_threshold, num_perm=self.num_permutations)
            if self.leakage and held_out:
                held_out_lsh = MinHashLSH(
                    threshold=self.near_duplicate_threshold, num_perm=self.num_permutations
                )
                for text in sorted(held_out):
                    held_out_signatures[text] = self.minhash(text)
                    held_out_lsh.insert(text, held_out_signatures[text])
        seen: dict[str, int] = {}
        signatures: dict[int, Any] = {}  # row -> its MinHash, for the rows in the LSH index
        kept: list[int] = []
        for index, (key, text) in enumerate(zip(keys, inputs, strict=True)):
            count = len(words(text))
            if (self.min_words is not None and count < self.min_words) or (
                self.max_words is not None and count > self.max_words
            ):
                self._removed(report, "length", index, text)
                continue
            if self.languages is not None:
                language, probability = self.identify_language(text)
                # an uncertain guess (short texts) never drops a row
                if language not in self.languages and probability >= self.language_threshold:
                    self._removed(report, "language", index, text, language=f"{language} ({probability:.2f})")
                    continue
            if self.leakage and text in held_out:
                self._removed(report, "leakage", index, text)
                continue
            if held_out_lsh is not None:
                near = self.near_matches(held_out_lsh, held_out_signatures, self.minhash(text))
                if near:
                    self._removed(report, "near_leakage", index, text, like=min(near))
                    continue
            if self.exact_duplicates and key in seen:
                self._removed(report, "exact_duplicates", index, key, like=keys[seen[key]])
                continue
            seen.setdefault(key, index)
            if lsh is not None:
                signature = self.minhash(key)
                similar = self.near_matches(lsh, signatures, signature)
                if similar:
                    self._removed(report, "near_duplicates", index, key, like=keys[min(similar)])
                    continue
                lsh.insert(index, signature)
                signatures[index] = signature
            kept.append(index)
        return kept

    def counts(self) -> dict[str, int]:
        """The last report as flat numbers for trackers: {'train/exact_duplicates': 371, 'train/rows_after': ...}."""
        flat: dict[str, int] = {}
        for split, steps in getattr(self, "report", {"splits": {}})["splits"].items():
            for step, entry in steps.items():
                value = entry if isinstance(entry, int) else entry.get("removed", entry.get("changed"))
                flat[f"{split}/{step}"] = value
        return flat

    # --- the stage -------------------------------------------------------------------------------
    def apply(
        self, splits: dict[str, datasets.Dataset], columns: dict[str, list[str]], repair_text: bool = True
    ) -> dict[str, datasets.Dataset]:
        """Clean `splits`; `columns[split]` names its text fields, the first being the model's input."""
        started = time.perf_counter()
        report: dict[str, Any] = {"splits": {}}
        cleaned: dict[str, datasets.Dataset] = {}
        for split, dataset in splits.items():
            split_report: dict[str, Any] = {"rows_before": len(dataset)}
            if repair_text and self.repairs:
                repaired = {
                    column: [self.repair_value(v, split_report) for v in dataset[column]]
                    for column in columns[split]
                }
                for column, values in repaired.items():
                    # added beside the old column first: a table with no columns would lose its rows
                    dataset = dataset.add_column(
                        f"{column}.cleaned", values, feature=dataset.features[column]
                    )
                    dataset = dataset.remove_columns(column).rename_column(f"{column}.cleaned", column)
                dataset = dataset.select_columns(splits[split].column_names)  # the original column order
            cleaned[split] = dataset
            report["splits"][split] = split_report
        held_out = (
            {
                text
                for split in ("validation", "test")
                if split in cleaned
                for text in field_texts(cleaned[split], columns[split][0])
            }
            if self.leakage
            else set()
        )
        for split in self.filter_splits:
            if split not in cleaned:
                continue
            dataset = cleaned[split]
            keys = example_keys(dataset, columns[split])
            inputs = field_texts(dataset, columns[split][0])
            kept = self.filter_rows(
                keys, inputs, report["splits"][split], held_out if split == "train" else set()
            )
            if len(kept) < len(dataset):
                cleaned[split] = dataset.select(kept)
        for split, dataset in cleaned.items():
            report["splits"][split]["rows_after"] = len(dataset)
        report["seconds"] = round(time.perf_counter() - started, 3)
        self.report = report
        log.info("data cleaning: %s", summary_line(report))
        if self.report_path:
            path = Path(self.report_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
        return cleaned


def field_texts(dataset: datasets.Dataset, column: str) -> list[str]:
    """One string per row of a text field (a token list joined by spaces)."""
    return [" ".join(v) if isinstance(v, list) else (v or "") for v in dataset[column]]


def example_keys(dataset: datasets.Dataset, columns: list[str]) -> list[str]:
    """What makes two rows the same example: all their text fields together."""
    return [
        FIELD_SEPARATOR.join(values)
        for values in zip(*(field_texts(dataset, c) for c in columns), strict=True)
    ]


def summary_line(report: dict[str, Any]) -> str:
    """'train 67349->66978 (exact_duplicates -371); validation 872->872', for the log."""
    parts = []
    for split, counts in report["splits"].items():
        removed = [
            f"{step} -{entry['removed']}"
            for step, entry in counts.items()
            if isinstance(entry, dict) and "removed" in entry
        ]
        changed = [
            f"{step} ~{entry['changed']}"
            for step, entry in counts.items()
            if isinstance(entry, dict) and "changed" in entry
        ]
        detail = ", ".join(removed + changed)
        parts.append(
            f"{split} {counts['rows_before']}->{counts['rows_after']}" + (f" ({detail})" if detail else "")
        )
    return "; ".join(parts) + f" in {report['seconds']:.1f}s"
