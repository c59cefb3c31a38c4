"""What a finished run's maps look at: where they peak, and whether they follow the sound.

    python -m benchmark.diagnose results/table1/runs/bench/train-flickr/ezvsl/seed1 [more run folders] [--domain D]
                                 [--at-init [--weights TYPE=FILE]]

For each run folder (its best_model.pt and run.json), on its first test set (or --domain), over every test image:
- `peak on border`: the share of images whose headline map peaks on the outer ring of the map's cells (the ring
  is `border cells` of the map; a map that follows objects peaks there about as often as the objects' centres
  lie there), and the most common peak cell with its share;
- `same map, other sound`: the mean over images of the Pearson correlation between the image's map with its own
  sound and with another test clip's (the shuffled-audio pairing of the leaderboard's control); near 1 the map
  ignores the sound, near 0 it changes with it;
- `map vs GT`: the mean correlation between the map and the GT mask pooled to the map's cells;
- `constant maps`: the share of images whose map has one value everywhere (a dead attention, docs/methods.md §7):
  their peak counts as cell (0, 0) and their correlations as 0.
A run below the centre floor whose maps peak on the border and ignore the sound has locked onto a location, not
an object (docs/methods.md §6). Maps are computed on the CPU, as `benchmark.localize --export-predictions`.

`--at-init` looks at the models as the run's training started them instead (its seed, its config and pretrained
files, no training; only run.json is needed): whether a run was dead before its first step, or died in training
(docs/methods.md §7). A pretrained file recorded at a path this machine lacks is named with `--weights TYPE=FILE`;
its content must be the recorded one (its sha256 is checked).
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmark.evaluate import shuffled_audio_rows
from benchmark.localize import InputError, build, cpu_test_maps, run_record, run_test_set
from benchmark.suites import SuiteError, backbone_specs, parse_weights
from benchmark.trainer import initial_models
from methods import get_method
from methods.base import load_method_config
from methods.common.weights import WeightsError


def _rowwise_corr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per row of two (n, k) tensors; 0 where either row is constant."""
    x, y = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    denom = (x.norm(dim=1) * y.norm(dim=1))
    return torch.where(denom > 0, (x * y).sum(1) / denom.clamp_min(1e-12), torch.zeros_like(denom))


def map_statistics(maps: torch.Tensor, other_sound: torch.Tensor, gt: torch.Tensor) -> dict:
    """The numbers above from (n, h, w) maps, the same images' maps with other sounds, and (n, H, W) GT masks."""
    n, h, w = maps.shape
    flat = maps.flatten(1)
    constant = (flat.amax(1) - flat.amin(1)) <= 1e-6 * (1 + flat.abs().amax(1))
    peak = flat.argmax(1)
    row, col = peak // w, peak % w
    border = (row == 0) | (row == h - 1) | (col == 0) | (col == w - 1)
    counts = torch.bincount(peak, minlength=h * w)
    mode = int(counts.argmax())
    gt_cells = F.adaptive_avg_pool2d(gt.float()[:, None], (h, w))[:, 0]
    return {
        "n": n, "map_cells": [h, w],
        "border_cells": round((2 * (h + w) - 4) / (h * w), 4) if h > 1 and w > 1 else 1.0,
        "constant_maps": round(float(constant.float().mean()), 4),  # their peak is cell (0, 0) by convention
        "peak_on_border": round(float(border.float().mean()), 4),
        "most_common_peak": {"cell": [mode // w, mode % w], "share": round(float(counts[mode]) / n, 4)},
        "same_map_other_sound": round(float(_rowwise_corr(maps.flatten(1), other_sound.flatten(1)).mean()), 4),
        "map_vs_gt": round(float(_rowwise_corr(maps.flatten(1), gt_cells.flatten(1)).mean()), 4),
    }


def untrained(record: dict, run_json: Path, weights: dict[str, str] | None = None):
    """The run's method with its models as its training started them (benchmark.trainer.initial_models);
    `weights` ({backbone type: file}) stands in for recorded pretrained files at paths this machine lacks."""
    model = copy.deepcopy(record["model"])
    for part in backbone_specs(model):
        if part["type"] in (weights or {}) and part.get("weights"):
            part["weights"] = weights[part["type"]]  # weights_sha256 stays: the content is still checked
    cls = get_method(record["method"])
    method = cls(load_method_config(cls, record["method_config"]), model)
    try:
        models = initial_models(method, record["seed"])
    except WeightsError as err:  # a pretrained file recorded in run.json that is not on this machine
        raise InputError(f"{run_json}: {err}") from None
    for m in models.values():
        m.eval()
    method.attach(models)
    return method


def diagnose(run_folder: Path, domain: str | None = None, at_init: bool = False,
             weights: dict[str, str] | None = None) -> dict:
    """map_statistics of a finished run's headline map on its first test set (or `domain`); `at_init`: of the
    models the run started from."""
    if not (run_folder / "run.json").is_file():
        raise InputError(f"{run_folder}: no run.json (not a finished run folder)")
    record = run_record(run_folder / "run.json")
    if at_init:
        method, config = untrained(record, run_folder / "run.json", weights), record
    else:
        method, config = build(record["method"], run_folder / "best_model.pt", record["profile"])
    name, data = run_test_set(config, domain)
    rows = data.rows["test"]
    variant = method.report_variants()[0]
    maps = cpu_test_maps(method, variant, config, data)
    other = cpu_test_maps(method, variant, config, data, audio_rows=shuffled_audio_rows(rows))
    stats = map_statistics(maps, other, data.table.get(rows)["gt"])
    return {"run": str(run_folder), "method": record["method"], "seed": record["seed"], "test": name,
            "variant": variant, "weights": "initial" if at_init else "best", **stats}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run folders (best_model.pt, run.json)")
    parser.add_argument("--domain", help="test set to look at; default: each run's first")
    parser.add_argument("--at-init", action="store_true",
                        help="the models as each run's training started them, not its best_model.pt")
    parser.add_argument("--weights", action="append", default=[], metavar="TYPE=FILE",
                        help="with --at-init: a recorded pretrained file's copy on this machine")
    args = parser.parse_args(argv)
    try:
        weights = parse_weights(args.weights)
    except SuiteError as err:
        parser.error(str(err))
    failed = 0
    for folder in args.runs:
        try:
            s = diagnose(folder, args.domain, args.at_init, weights)
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        mode = s["most_common_peak"]
        print(f"{s['run']}{' at initialisation' if args.at_init else ''}: {s['method']} seed {s['seed']} on "
              f"{s['test']} ({s['n']} images, "
              f"{s['map_cells'][0]}x{s['map_cells'][1]} map): constant maps {100 * s['constant_maps']:.1f} %, "
              f"peak on border {100 * s['peak_on_border']:.1f} % (border cells {100 * s['border_cells']:.1f} %), "
              f"most common peak cell {tuple(mode['cell'])} {100 * mode['share']:.1f} %; "
              f"same map, other sound r = {s['same_map_other_sound']:.2f}; map vs GT r = {s['map_vs_gt']:.2f}")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
