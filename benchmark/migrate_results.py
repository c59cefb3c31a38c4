"""Add file digests to finished runs written before results were verified (benchmark/verify.py).

    python -m benchmark.migrate_results [--results-dir results]

For every finished run (a metrics.json) without a `files` field: per_sample.jsonl and run.json must parse and
metrics.json's verifiable numbers must be those of per_sample.jsonl; then metrics.json is rewritten atomically
with the sha256 of both files added and nothing else changed. Runs that already record digests are only
checked, except a copy that an older runner made of a migrated run (the same `files` as its `copied_from`
source, beside a run.json it rewrote): that one is migrated again. Safe to rerun, and beside a running suite:
a run is written in full before its metrics.json, and a metrics.json that changes while it is being migrated
is left for the next pass. Exit status 1 if a run is damaged (listed; nothing of it is changed).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from benchmark.run_outputs import write_metrics
from benchmark.verify import (RECORDED, DamagedRun, check_numbers, finished_runs, load_run, read_per_sample,
                              read_result_json)


def _copied_by_old_code(folder: Path, metrics: dict) -> bool:
    """Whether an older runner's copy_run (no digests of its own) carried the source run's `files` over
    unchanged beside a rewritten run.json: the copy is then migrated like a run without digests."""
    try:
        source = Path(read_result_json(folder / "run.json").get("copied_from") or "")
        return source != Path("") and read_result_json(source / "metrics.json").get("files") == metrics["files"] \
            and source.resolve() != folder.resolve()
    except (DamagedRun, AttributeError):
        return False


def migrate_run(folder: Path) -> str:
    """'migrated' or 'verified' (already had digests); DamagedRun if the run's files disagree."""
    path = folder / "metrics.json"
    before = path.read_bytes() if path.exists() else b""
    metrics = read_result_json(path)
    if isinstance(metrics, dict) and "files" in metrics and not _copied_by_old_code(folder, metrics):
        load_run(folder)
        return "verified"
    data = {}
    for name in RECORDED:
        try:
            data[name] = (folder / name).read_bytes()
        except OSError as err:
            raise DamagedRun(f"{folder / name}: {'missing' if isinstance(err, FileNotFoundError) else err}") from None
    read_result_json(folder / "run.json")
    check_numbers(metrics, read_per_sample(folder / "per_sample.jsonl"), path)
    if any((folder / name).read_bytes() != data[name] for name in RECORDED) or path.read_bytes() != before:
        return "changed while migrating (rerun the migration)"
    # JSON floats round-trip exactly, so every number is written back as it was read
    write_metrics(folder, metrics, {k: hashlib.sha256(v).hexdigest() for k, v in data.items()})
    return "migrated"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    args = p.parse_args(argv)
    counts: dict[str, int] = {}
    damaged = 0
    for folder in finished_runs(args.results_dir):
        try:
            outcome = migrate_run(folder)
        except DamagedRun as err:
            print(f"damaged: {err}", file=sys.stderr)
            damaged += 1
            continue
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome != "verified":
            print(f"{outcome}: {folder}")
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no finished runs"
    print(f"{args.results_dir}: {summary}" + (f", {damaged} damaged (left unchanged)" if damaged else ""))
    return 1 if damaged else 0


if __name__ == "__main__":
    sys.exit(main())
