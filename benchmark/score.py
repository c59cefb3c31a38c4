"""Score anyone's heatmaps on a benchmark test set, under one or every protocol (docs/protocol.md §2).

    python -m benchmark.score --predictions preds.npz --dataset synthetic --domain flickr --profile default
    python -m benchmark.score --predictions preds.npz --dataset vggss --data-root /data/stores --protocol all
    python -m benchmark.score --predictions preds.npz --dataset vggss --data-root /data/stores --test-list 5158

The file format is benchmark/predictions.py's (`sample_ids`, `maps`). Prints one row per protocol and, with
--out, writes the same numbers as JSON (atomically). On real data --test-list picks one of the field's test
lists (docs/protocol.md §2); listed ids the prepared store lacks are reported and not scored.
`python -m benchmark.localize --export-predictions` writes a trained run's (or a floor's) test maps in this
format; scored here they give its metrics.json numbers (`ezvsl` = ciou/auc, `fixed0.5` = ciou_fixed0.5/auc_fixed0.5).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd
import torch

from benchmark import metrics
from benchmark.data.adapters import get_adapter, list_adapters
from benchmark.data.domains import DomainData, load_domain, load_real_test, restrict_classes
from benchmark.data.real_common import DataError
from benchmark.data.splits import SplitError
from benchmark.data.store import StoreError
from benchmark.evaluate import summarize
from benchmark.io import write_json_atomic
from benchmark.predictions import PredictionError, listed, match_test_set, read_predictions, split_ids
from benchmark.protocols import DEFAULT, PROTOCOLS, get_protocol
from benchmark.suites import load_profile

COLUMNS = {"ciou": "CIoU", "auc": "AUC", "ciou_mean": "mean cIoU", "ciou_small": "CIoU small",
           "ciou_medium": "CIoU medium", "ciou_large": "CIoU large", "n": "n"}


def load_test_set(dataset: str, domain: str | None, profile: str, data_root: Path | None,
                  test_list: str | None = None) -> tuple[DomainData, str | None, list[str]]:
    """(the test domain: `--domain` of the dataset, a :<class subset> suffix restricting it, in the profile's data;
    real data: the test-list choice, the profile's unless `test_list`, and the listed ids the store lacks)."""
    adapter = get_adapter(dataset)
    prof = load_profile(profile)
    if prof.data.source != adapter.source:
        raise PredictionError(f"profile {profile!r} is for {prof.data.source} data, not {dataset!r}")
    if domain is None and len(adapter.domains) > 1:
        raise PredictionError(f"--domain is needed for the {dataset} dataset ({' or '.join(adapter.domains)})")
    domain = domain or adapter.domains[0]
    base, _, classes = domain.partition(":")
    if base not in adapter.domains:
        raise PredictionError(f"domain {domain!r} is not of dataset {dataset!r}")
    if adapter.source != "real":
        if test_list:
            raise PredictionError(f"--test-list chooses among the real datasets' lists; {dataset} data has one "
                                  "test list per profile")
        return load_domain(prof.data, profile, domain, data_root), None, []
    field = f"{adapter.name}_test"  # RealData.flickr_test / vggss_test
    data = dataclasses.replace(prof.data, **{field: test_list or getattr(prof.data, field)})
    loaded, absent = load_real_test(adapter.name, adapter.store(data, data_root), adapter.test_list(data))
    return (restrict_classes(loaded, classes) if classes else loaded), getattr(data, field), absent


def score_predictions(path, ids: list[str], maps, data: DomainData, protocols: list[str],
                      allow_missing: bool = False, absent=()) -> dict:
    """{n_test, n_scored, missing, protocols: {name: numbers}}, samples scored in the test set's order. Maps of
    `absent` ids (listed, but not in the store: no GT here) are left out."""
    if absent:
        gone = set(absent)
        keep = [k for k, i in enumerate(ids) if i not in gone]
        ids, maps = [ids[k] for k in keep], maps[keep]
    test_ids = split_ids(data)
    order, missing = match_test_set(path, ids, test_ids, allow_missing)
    present = set(ids)
    rows = [r for r, i in zip(data.rows["test"], test_ids) if i in present]
    gt = data.table.get(rows)["gt"]
    res = metrics.evaluate_protocols(torch.from_numpy(maps[order]), gt, protocols)
    return {"n_test": len(test_ids), "n_scored": len(rows), "missing": missing,
            "protocols": {name: summarize(r) for name, r in res.items()}}


def table(result: dict) -> str:
    frame = pd.DataFrame([{"protocol": name, **{COLUMNS[k]: v.get(k) for k in COLUMNS}}
                          for name, v in result["protocols"].items()]).astype({"n": int})
    return frame.to_markdown(index=False, floatfmt=".2f", missingval="-")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", required=True, type=Path, help=".npz with sample_ids and maps")
    p.add_argument("--dataset", required=True, choices=list_adapters())
    p.add_argument("--domain", help="synthetic: flickr or vggss; a :heard / :unheard suffix scores that class subset")
    p.add_argument("--profile", help="whose data and split lists (default: default for synthetic, paper for real)")
    p.add_argument("--data-root", type=Path, help="folder of the prepared real-data stores (benchmark.prepare --out)")
    p.add_argument("--test-list", help="Flickr: 249, 250-senocak or 250-slavc; VGG-SS: drawn, 5158 or 4692-sspl "
                                       "(default: the profile's data.flickr_test / data.vggss_test)")
    p.add_argument("--protocol", default=DEFAULT, help=f"one of {', '.join(PROTOCOLS)}, or all (default {DEFAULT})")
    p.add_argument("--allow-missing", action="store_true", help="score the test samples that have a map")
    p.add_argument("--out", type=Path, help="write the numbers as JSON here")
    args = p.parse_args(argv)
    profile = args.profile or get_adapter(args.dataset).default_profile
    try:
        names = list(PROTOCOLS) if args.protocol == "all" else [get_protocol(args.protocol).name]
        ids, maps = read_predictions(args.predictions)
        data, test_list, absent = load_test_set(args.dataset, args.domain, profile, args.data_root, args.test_list)
        result = score_predictions(args.predictions, ids, maps, data, names, args.allow_missing, absent)
    except (PredictionError, DataError, SplitError, StoreError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = {"predictions": str(args.predictions), "dataset": args.dataset, "domain": data.name,
              "profile": profile, "test_list": test_list, **result, "not_in_store": absent}
    print(table(result))
    if absent:
        print(f"{len(absent)} ids of the {test_list} test list are not in the store, not scored: {listed(absent)}")
    if result["missing"]:
        print(f"{len(result['missing'])} test samples without a map, not scored: {listed(result['missing'])}")
    if args.out:
        write_json_atomic(args.out, result)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
