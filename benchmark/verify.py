"""Verified result files: a finished run is used only if its files agree with each other (docs/design.md §7).

`load_run` checks the sha256 metrics.json records for per_sample.jsonl and run.json, that every file parses,
and that metrics.json's default-protocol numbers are what per_sample.jsonl gives; else DamagedRun names the
file and the problem.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from benchmark.data.splits import sha256_file
from benchmark.metrics import _summary

RECORDED = ("per_sample.jsonl", "run.json")  # the files whose sha256 metrics.json records under `files`
ROUNDING = 5e-7 + 1e-12  # per_sample.jsonl stores cIoU rounded to 6 decimals (benchmark/evaluate.py)
VERIFIED = ("n", "ciou", "auc", "ciou_mean")


class DamagedRun(Exception):
    """A finished run whose files are missing, unreadable, or disagree with each other."""


def file_digests(folder: Path) -> dict[str, str]:
    """{name: sha256} of the recorded files of the run in `folder` (the `files` field of its metrics.json)."""
    return {name: sha256_file(folder / name) for name in RECORDED}


def read_result_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DamagedRun(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DamagedRun(f"{path}: unreadable ({err})") from None
    except json.JSONDecodeError as err:
        raise DamagedRun(f"{path}: not valid JSON, truncated or edited ({err})") from None


def read_per_sample(path: Path) -> list[dict]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DamagedRun(f"{path}: unreadable ({err})") from None
    rows = []
    for i, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            rows.append({"test": row["test"], "variant": row["variant"], "ciou": float(row["ciou"])})
        except (ValueError, KeyError, TypeError) as err:
            raise DamagedRun(f"{path}: line {i} is not a per-sample row ({err!r})") from None
    return rows


def recompute(cious: list[float]) -> tuple[dict, dict, dict]:
    """(exact, low, high) summaries of rounded per-sample cIoU: the true values lie within ±ROUNDING of them,
    and CIoU, AUC and the mean grow with every cIoU, so each recorded number lies between low and high."""
    c = torch.tensor(cious, dtype=torch.float64)
    return tuple(_summary(x, None) for x in (c, (c - ROUNDING).clamp(min=0.0), (c + ROUNDING).clamp(max=1.0)))


def check_numbers(metrics: dict, rows: list[dict], where: Path) -> None:
    """Raise DamagedRun unless metrics.json's verifiable numbers (VERIFIED) are those of per_sample.jsonl."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault((r["test"], r["variant"]), []).append(r["ciou"])
    tests = metrics.get("tests") if isinstance(metrics, dict) else None
    if not isinstance(tests, dict) or not all(isinstance(v, dict) for v in tests.values()):
        raise DamagedRun(f"{where}: no per-test numbers (`tests`)")
    recorded = {(t, v) for t, per in tests.items() for v in per}
    if recorded != set(groups):
        raise DamagedRun(f"{where}: scores (test, variant) {sorted(recorded)} but per_sample.jsonl has "
                         f"{sorted(groups)}")
    for (test, variant), cious in sorted(groups.items()):
        numbers = tests[test][variant]
        exact, low, high = recompute(cious)
        for key in VERIFIED:
            value = numbers.get(key) if isinstance(numbers, dict) else None
            if value is None and key in ("n", "ciou_mean"):
                continue  # optional: older and hand-made runs may lack them
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
                value == exact["n"] if key == "n" else
                low[key] - 1e-9 <= value <= high[key] + 1e-9 or math.isclose(value, exact[key], abs_tol=1e-9))
            if not ok:
                raise DamagedRun(f"{where}: tests.{test}.{variant}.{key} is {value!r} but per_sample.jsonl "
                                 f"gives {exact[key]!r}")


def load_run(folder: Path) -> tuple[dict, dict]:
    """(metrics, run) of the finished run in `folder`, verified; DamagedRun on any disagreement."""
    path = folder / "metrics.json"
    metrics = read_result_json(path)
    files = metrics.get("files") if isinstance(metrics, dict) else None
    if not isinstance(files, dict):
        raise DamagedRun(f"{path}: records no file digests (written before results were verified)")
    for name in RECORDED:
        target = folder / name
        try:
            digest = sha256_file(target)
        except FileNotFoundError:
            raise DamagedRun(f"{target}: missing (its metrics.json records it)") from None
        except OSError as err:
            raise DamagedRun(f"{target}: unreadable ({err})") from None
        if digest != files.get(name):
            raise DamagedRun(f"{target}: sha256 {digest[:12]}… is not the {str(files.get(name))[:12]}… its "
                             "metrics.json records (changed after the run finished)")
    run = read_result_json(folder / "run.json")
    check_numbers(metrics, read_per_sample(folder / "per_sample.jsonl"), path)
    return metrics, run


def finished_runs(results_dir: Path, suite: str = "*", profile: str = "*") -> list[Path]:
    """Folders of every finished run (a metrics.json) under results_dir, tuning runs included."""
    return sorted(p.parent for p in results_dir.glob(f"{suite}/runs/{profile}/train-*/**/seed*/metrics.json"))


def damaged_runs(folders: list[Path]) -> dict[Path, DamagedRun]:
    """{folder: the error} of the runs among `folders` that do not verify."""
    out = {}
    for folder in folders:
        try:
            load_run(folder)
        except DamagedRun as err:
            out[folder] = err
    return out
