"""Bring result folders written by older code up to today's records; no number changes.

    python -m benchmark.migrate_results [--results-dir results]

1. File digests (benchmark/verify.py). For every finished run (a metrics.json) without a `files` field: per_sample.jsonl and run.json must parse and
metrics.json's verifiable numbers must be those of per_sample.jsonl; then metrics.json is rewritten atomically
with the sha256 of both files added and nothing else changed. Runs that already record digests are only
checked, except a copy that an older runner made of a migrated run (the same `files` as its `copied_from`
source, beside a run.json it rewrote): that one is migrated again. Safe to rerun, and beside a running suite:
a run is written in full before its metrics.json, and a metrics.json that changes while it is being migrated
is left for the next pass. Exit status 1 if a run is damaged (listed; nothing of it is changed).

2. Model roles (docs/design.md §5). A run's config once recorded the profile's whole model section (XPL's
model B under `b`) for every trainable method; it now records {role: spec} of the method's own roles
(`current_config`, a pure function of the old config). Every record of the identity is rewritten with the new
config and its hash: run.json, metrics.json (`config_hash`, and `files` since run.json changed), the run record
inside best_model.pt, and the checkpoints under ckpt/ (an interrupted run resumes). A checkpoint that records
neither its config nor the hash of a run.json beside it cannot be migrated: it is named, and the runner will
refuse it (delete that ckpt/ folder to start the run over).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

import methods
from benchmark.checkpoint import WEIGHTS_RECORD
from benchmark.io import open_atomic, write_json_atomic
from benchmark.metadata import config_hash
from benchmark.run_outputs import write_metrics
from benchmark.suites import role_specs
from benchmark.verify import (RECORDED, DamagedRun, check_numbers, file_digests, finished_runs, load_run,
                              read_per_sample, read_result_json)


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


def current_config(config: dict) -> dict:
    """`config` with its `model` as today's runner resolves it: {role: spec} of the method's roles, from the
    profile's whole model section with XPL's B under `b` (a role's entry replaces the base's, as
    benchmark/suites.py role_specs). Pure; a current config comes back as it is."""
    model = config.get("model")
    roles = methods.get_method(config["method"]).model_roles
    if model is None or set(model) == set(roles):
        return config
    base = {k: v for k, v in model.items() if k != "b"}
    return {**config, "model": role_specs({**base, "roles": {"b": model["b"]} if "b" in model else {}}, roles)}


def migrate_identity(folder: Path) -> bool:
    """Rewrite a verified finished run's records for `current_config`; whether anything changed."""
    run = read_result_json(folder / "run.json")
    config = current_config(run["config"])
    changed = _migrate_checkpoints(folder, run["config"], run["config_hash"])
    changed |= _migrate_weights_record(folder)
    if config == run["config"]:
        return changed
    metrics_path = folder / "metrics.json"
    metrics = read_result_json(metrics_path)
    chash = config_hash(config)
    write_json_atomic(folder / "run.json", {**run, "config": config, "config_hash": chash})
    write_json_atomic(metrics_path, {**metrics, "config_hash": chash, "files": file_digests(folder)})  # last
    return True


def _migrate_weights_record(folder: Path) -> bool:
    path = folder / "best_model.pt"
    if not path.exists():
        return False
    state = torch.load(path, map_location="cpu", weights_only=True)
    record = state.get(WEIGHTS_RECORD)
    if not isinstance(record, dict) or current_config(record) == record:
        return False
    with open_atomic(path, "wb") as f:
        torch.save({**state, WEIGHTS_RECORD: current_config(record)}, f)
    return True


def _migrate_checkpoints(folder: Path, config: dict | None, chash: str | None) -> bool:
    """Checkpoints of the run in `folder`: each one's recorded config (or, for one that records only a hash,
    the config of the run.json beside it with that hash) and hash, made current."""
    changed = False
    for meta_path in sorted(folder.glob("ckpt/step_*/meta.json")):
        meta = read_result_json(meta_path)
        old = meta.get("config") or (config if chash is not None and meta.get("config_hash") == chash else None)
        if old is None:  # written before checkpoints recorded their config, and no run.json of its hash beside
            raise DamagedRun(f"{meta_path}: records no config to migrate; delete {folder / 'ckpt'} "
                             "to start the run over")
        new = {**meta, "config": current_config(old), "config_hash": config_hash(current_config(old))}
        if new != meta:
            write_json_atomic(meta_path, new)
            changed = True
    return changed


def unfinished_runs(results_dir: Path) -> list[Path]:
    """Folders of runs with checkpoints and no metrics.json (interrupted)."""
    return sorted({p.parent for p in results_dir.glob("*/runs/*/train-*/**/seed*/ckpt")
                   if not (p.parent / "metrics.json").exists()})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    args = p.parse_args(argv)
    counts: dict[str, int] = {}
    damaged = 0
    for folder in finished_runs(args.results_dir):
        try:
            outcome = migrate_run(folder)
            if outcome in ("migrated", "verified") and migrate_identity(folder):
                outcome = "migrated"
        except DamagedRun as err:
            print(f"damaged: {err}", file=sys.stderr)
            damaged += 1
            continue
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome != "verified":
            print(f"{outcome}: {folder}")
    for folder in unfinished_runs(args.results_dir):
        try:
            if _migrate_checkpoints(folder, None, None):
                print(f"migrated checkpoint: {folder}")
        except DamagedRun as err:
            print(f"damaged: {err}", file=sys.stderr)
            damaged += 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no finished runs"
    print(f"{args.results_dir}: {summary}" + (f", {damaged} damaged (left unchanged)" if damaged else ""))
    return 1 if damaged else 0


if __name__ == "__main__":
    sys.exit(main())
