"""Atomic training checkpoints: written to step_N.tmp/, renamed, then marked COMPLETE.

Start-up loads the newest complete one and refuses one made with another config or
process count, naming the file.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from benchmark.io import open_atomic, read_json, write_json_atomic


# key of the run record (the run's resolved config, as in run.json) inside a run's best_model.pt, beside one
# state dict per model: `benchmark.localize` confirms the method from it when no run.json is at hand
WEIGHTS_RECORD = "run_config"


class CheckpointMismatch(RuntimeError):
    pass


def save_checkpoint(ckpt_dir: Path, step: int, state: dict, meta: dict, keep: int = 1) -> Path:
    final = ckpt_dir / f"step_{step:08d}"
    tmp = ckpt_dir / f"step_{step:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with open_atomic(tmp / "state.pt", "wb") as f:  # a write error names the file
        torch.save(state, f)
    write_json_atomic(tmp / "meta.json", {**meta, "step": step})
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    (final / "COMPLETE").touch()  # last: only now does this checkpoint count
    for old in complete_checkpoints(ckpt_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete_checkpoints(ckpt_dir: Path) -> list[Path]:
    if not ckpt_dir.exists():
        return []
    return sorted(p for p in ckpt_dir.glob("step_*") if p.is_dir() and (p / "COMPLETE").exists())


def load_latest(ckpt_dir: Path, expect: dict) -> tuple[dict, dict] | None:
    """(state, meta) of the newest complete checkpoint, or None; checks `expect` keys in meta."""
    found = complete_checkpoints(ckpt_dir)
    if not found:
        return None
    path = found[-1]
    meta = read_json(path / "meta.json")
    for key, value in expect.items():
        if meta.get(key) != value:
            raise CheckpointMismatch(
                f"{path}/meta.json: {key} is {meta.get(key)!r} but this run has {value!r}; "
                f"delete {ckpt_dir} to start over")
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    return state, meta
