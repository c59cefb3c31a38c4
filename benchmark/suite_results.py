"""A suite's finished runs, each read and verified once, and the long frame of their numbers (also as CSV):
the leaderboard's tables, claims.md and the figures are all drawn from these.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.io import atomic_path
from benchmark.suites import Suite, budget_of, training_domain
from benchmark.verify import load_run

METRICS = ("ciou", "auc")
SECONDARY = ("ciou_fixed0.5", "auc_fixed0.5")
# SLAVC's joint-set numbers (docs/protocol.md §8), in %: from a test's `negatives` record
NEGATIVE = ("neg_ap", "neg_max_f1", "neg_precision", "neg_localised")
FALSE_ALARM = "fa_"  # + a negative type: the share of that type's pairs the method calls sounding
SEPARATION = "sep_"  # + a negative type: P(positive's confidence > that type's), benchmark/negatives.py


def negative_numbers(record: dict) -> dict:
    """The flat % numbers of a test's `negatives` record (benchmark/evaluate.py::evaluate_negatives)."""
    out = {"neg_ap": record["AP"], "neg_max_f1": record["max_F1"], "neg_precision": record["precision"],
           "neg_localised": record["localised"]}
    out.update({FALSE_ALARM + t: v for t, v in record["false_alarm"].items() if t != "all"})
    out.update({SEPARATION + t: v for t, v in record.get("separation", {}).items()})
    return {k: 100.0 * v for k, v in out.items()}
COLUMNS = ["evaluation", "label", "method", "variant", "primary", "seed", "metric", "value"]


@dataclass(frozen=True)
class FinishedRun:
    folder: Path
    metrics: dict  # metrics.json
    run: dict  # run.json


def load_runs(suite: Suite, results_dir: Path) -> list[FinishedRun]:
    """Every finished run of the suite's labels and seeds (tuning runs left out), verified first
    (benchmark/verify.py): one whose files are missing, changed or disagree raises DamagedRun."""
    base = results_dir / suite.name / "runs" / suite.profile
    labels = {e.label for e in suite.methods}
    return [FinishedRun(path.parent, *load_run(path.parent))
            for path in sorted(base.glob("train-*/*/seed*/metrics.json"))
            if path.parent.parent.name in labels and int(path.parent.name[4:]) in suite.seeds]


def collect(suite: Suite, runs: list[FinishedRun]) -> pd.DataFrame:
    """One row per (evaluation, method label, variant, seed, metric)."""
    rows = []
    for finished in runs:
        m = finished.metrics
        fluctuation = val_fluctuation(finished.run.get("val_history", []), budget_of(suite, m["method"]).steps)
        for ev in suite.evaluations:
            # a budget-free run (oracle, floors) of a label-budget suite serves every budget of its domain
            if training_domain(m["method"], ev.train) != m["train"] or ev.test not in m["tests"]:
                continue
            if fluctuation is not None:  # a property of the training run, shown under each of its evaluations
                rows.append({"evaluation": ev.name, "label": m["label"], "method": m["method"],
                             "variant": m["primary_variant"], "primary": True, "seed": m["seed"],
                             "metric": "val_fluctuation", "value": fluctuation})
            for variant, numbers in m["tests"][ev.test].items():
                flat = dict(numbers)
                if isinstance(numbers.get("shuffled_audio"), dict):
                    flat["ciou_shuffled"] = numbers["shuffled_audio"]["ciou"]
                if ev.negatives and isinstance(numbers.get("negatives"), dict):
                    flat.update(negative_numbers(numbers["negatives"]))
                for metric in [*METRICS, *SECONDARY, "ciou_shuffled",
                               *(k for k in flat if k.startswith(("neg_", FALSE_ALARM, SEPARATION)))]:
                    if metric in flat:
                        rows.append({"evaluation": ev.name, "label": m["label"], "method": m["method"],
                                     "variant": variant, "primary": variant == m["primary_variant"],
                                     "seed": m["seed"], "metric": metric, "value": flat[metric]})
    return pd.DataFrame(rows, columns=COLUMNS)


def val_fluctuation(history: list[dict], steps: int) -> float | None:
    """Fig. 2d's "stability": RMS deviation of validation CIoU from its least-squares line over the second half of
    training (CIoU points; near 0 for a steady rise or plateau). None with fewer than three validations there."""
    late = [(h["step"], h["ciou"]) for h in history if h["step"] >= steps / 2]
    if len(late) < 3:
        return None
    x, y = np.array(late, dtype=float).T
    residual = y - np.polyval(np.polyfit(x, y, 1), x)
    return float(np.sqrt(np.mean(residual ** 2)))


def write_csv(long: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        long.to_csv(tmp, index=False)
    return path
