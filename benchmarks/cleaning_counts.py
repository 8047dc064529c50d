"""How dirty a dataset is: run `data.cleaning` (near duplicates on) over every split of a data config.

Reads the full splits as `train.py data=NAME` does, filters all three splits (so duplicates inside dev and
test are counted too; a training run filters train only) and prints rows removed per step and split,
with the time taken. The full report (examples of each step) goes to --report.

    HF_HUB_OFFLINE=1 python benchmarks/cleaning_counts.py data=sst2 data=dialogsum
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import hydra
from hydra import compose, initialize_config_dir

import nlpzoo.config  # noqa: F401  (registers the resolvers data configs use)

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("length", "language", "leakage", "near_leakage", "exact_duplicates", "near_duplicates")


def measure(data: str, report_dir: Path, overrides: list[str]) -> dict:
    """Clean every split of `data` (a conf/data name) and return the report, with the seconds it took."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                f"data={data}",
                "+data/cleaning=default",
                "data.cleaning.near_duplicates=true",
                "data.cleaning.filter_splits=[train,validation,test]",
                f"data.cleaning.report_path={report_dir / f'{data}_cleaning_report.json'}",
                *overrides,
            ],
        )
    datamodule = hydra.utils.instantiate(cfg.data, tokenizer=None, _convert_="all")
    started = time.perf_counter()
    raw = datamodule.load_raw_splits()
    read = time.perf_counter() - started
    columns = {split: datamodule.text_columns(split, dataset) for split, dataset in raw.items()}
    datamodule.cleaning.apply(raw, columns, repair_text=datamodule.cleaning_repairs_text)
    return {"data": data, "read_seconds": round(read, 2), **datamodule.cleaning.report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", help="data=NAME, one per dataset")
    parser.add_argument(
        "--report", type=Path, default=Path("logs/cleaning"), help="folder for the full reports"
    )
    parser.add_argument("--override", action="append", default=[], help="extra Hydra override, repeatable")
    args = parser.parse_args()
    rows = [measure(name.removeprefix("data="), args.report, args.override) for name in args.datasets]
    for row in rows:
        print(f"{row['data']}: cleaned in {row['seconds']:.1f} s (read {row['read_seconds']:.1f} s)")
        for split, counts in row["splits"].items():
            removed = {step: counts[step]["removed"] for step in STEPS if step in counts}
            changed = {k: v["changed"] for k, v in counts.items() if isinstance(v, dict) and "changed" in v}
            print(
                f"  {split}: {counts['rows_before']} -> {counts['rows_after']} removed {removed} repaired {changed}"
            )
    print(json.dumps([{k: v for k, v in row.items() if k != "splits"} for row in rows]))


if __name__ == "__main__":
    main()
