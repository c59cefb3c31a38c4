"""Train a finished run again from its recorded config and compare the numbers with the recorded ones.

    python -m benchmark.rerun results/table1/runs/bench/train-flickr/supervised/seed1 [...]

A change that should keep the numbers (a refactor, a migration of records) is proven on a sample of
committed runs this way instead of rerunning every suite (docs/design.md §5). The rerun goes to a
temporary results folder; the committed run is only read. Thread counts change float sums: run it with
the thread count the run was trained with (the committed bench runs: OMP_NUM_THREADS=1).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

from accelerate import Accelerator

import methods
from benchmark import metadata
from benchmark.io import read_json
from benchmark.runner import DomainCache, compute_identity, resolved_config, run_hash, run_one
from benchmark.suites import MethodEntry, load_suite, recorded_weights, with_weights

COMPARED_FILES = ("per_sample.jsonl", "previews.json")  # byte for byte
COMPARED_METRICS = ("best_step", "best_val", "tests", "primary_variant", "variants")


def recorded_entry(suite, config: dict) -> MethodEntry:
    """The suite's row of a recorded run, with the learning rate the run used when the profile tunes it
    (runner.tune_lr adds it as an override the same way)."""
    entry = next((e for e in suite.methods if e.label == config["label"]), None)
    if entry is None:
        raise SystemExit(f"suite {suite.name} has no row {config['label']!r} any more")
    cls = methods.get_method(entry.name)
    lr = (config.get("method_config") or {}).get("lr")
    if suite.lr_grid and cls.trainable and lr is not None and "lr" not in entry.overrides:
        entry = dataclasses.replace(entry, overrides={**entry.overrides, "lr": lr})
    return entry


def differences(recorded: Path, rerun: Path) -> list[str]:
    out = []
    for name in COMPARED_FILES:
        if (recorded / name).read_bytes() != (rerun / name).read_bytes():
            out.append(f"{name} differs")
    old, new = read_json(recorded / "metrics.json"), read_json(rerun / "metrics.json")
    for k in COMPARED_METRICS:
        out += _changed(old.get(k), new.get(k), f"metrics.json {k}")
    return out


def _changed(old, new, where: str) -> list[str]:
    """Every recorded value the rerun changed or lacks. Keys the rerun adds are not differences: the
    evaluator reports more numbers than it did when older runs were recorded (e.g. cIoU by box size)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in old for d in _changed(old[k], new.get(k), f"{where}.{k}")]
    return [] if old == new else [f"{where}: {old!r} != {new!r}"]


def rerun(folder: Path, accelerator, work: Path) -> list[str]:
    """The differences between the run in `folder` and the same run trained again under `work`."""
    config = read_json(folder / "run.json")["config"]
    suite = load_suite(config["suite"], config["profile"])
    paths, digests = recorded_weights(config["model"])
    if paths:  # its pretrained files, from the paths it records (loading checks their sha256)
        suite = with_weights(suite, paths, digests)
    entry = recorded_entry(suite, config)
    domains = DomainCache(suite, accelerator)
    now = resolved_config(suite, entry, config["train"], config["tests"], config["seed"], domains,
                          compute_identity(accelerator, suite))
    if run_hash(now) != read_json(folder / "metrics.json")["config_hash"]:
        return ["today's code resolves another config for this run (see tests/test_committed_identity.py)"]
    out = work / folder.name
    run_one(suite, entry, config["train"], config["tests"], config["seed"], work, accelerator, domains, out=out)
    return differences(folder, out)


def setting_notes(run: dict) -> list[str]:
    """Where this machine differs from the one that trained the run in what decides float results: the CPU kind
    (float kernels differ between CPU vendors and instruction sets), the thread count and the torch version. A
    rerun is bit-identical only where none differs (docs/design.md §5)."""
    hardware, versions = metadata.hardware(), metadata.versions()  # as the runner records them in run.json
    here = {"cpu": hardware["cpu"], "cpu_threads": hardware["cpu_threads"], "torch": versions["torch"]}
    then = {"cpu": run.get("hardware", {}).get("cpu"), "cpu_threads": run.get("hardware", {}).get("cpu_threads"),
            "torch": run.get("versions", {}).get("torch")}
    return [f"note: trained with {k} {then[k]}, rerun with {here[k]}: the numbers need not repeat bit for bit"
            for k in here if then[k] is not None and then[k] != here[k]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="finished run folders (with metrics.json)")
    p.add_argument("--keep", type=Path, help="write the reruns here (default: a temporary folder, removed)")
    args = p.parse_args(argv)
    accelerator = Accelerator(cpu=True)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, folder in enumerate(args.runs):
            if not (folder / "metrics.json").is_file():
                raise SystemExit(f"{folder}: not a finished run (no metrics.json)")
            diff = rerun(folder, accelerator, (args.keep or Path(tmp)) / f"rerun{i}")
            failed += bool(diff)
            notes = setting_notes(read_json(folder / "run.json"))
            print(f"{'identical' if not diff else 'DIFFERENT'}: {folder}" + "".join(f"\n  {d}" for d in notes + diff))
    print(f"{len(args.runs) - failed} of {len(args.runs)} reruns identical")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
