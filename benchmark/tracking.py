"""Optional experiment trackers (`run_all --log-with tensorboard|wandb`) and the plain progress line printed when
output is not a terminal; they log only numbers the run computes anyway (docs/design.md §4)."""
from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from pathlib import Path

from accelerate.utils import is_tensorboard_available, is_wandb_available

LOG_EVERY = 20  # optimizer steps between two logged losses (and tqdm's loss display)
TRACKERS = ("tensorboard", "wandb")  # --log-with values, each the name of the package it needs


def missing_tracker(name: str) -> str | None:
    """Why `--log-with name` cannot work here (its package is not installed), or None."""
    available = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available}[name]()
    return None if available else f"--log-with {name} needs the {name} package: pip install -e '.[{name}]'"


def run_name(out: Path, results_dir: Path) -> str:
    """A run's name for trackers and progress lines: its folder under the results folder."""
    try:
        return out.relative_to(results_dir).as_posix()
    except ValueError:
        return out.as_posix()


def flat_config(config: dict, prefix: str = "") -> dict:
    """Nested config -> {"a/b": scalar}: trackers' hyperparameter tables take scalars only (lists, None as JSON)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flat_config(value, f"{prefix}{key}/"))
        else:
            ok = isinstance(value, (bool, int, float, str))
            out[f"{prefix}{key}"] = value if ok else json.dumps(value, default=str)
    return out


@contextlib.contextmanager
def tracked(accelerator, name: str, config: dict):
    """The accelerator's trackers (none unless run_all was given --log-with) for one run `name`."""
    if not accelerator.log_with:
        yield
        return
    if any(str(t) == "wandb" for t in accelerator.log_with):  # one W&B project, a named run per run
        Path(accelerator.project_dir).mkdir(parents=True, exist_ok=True)
        project, kwargs = "avsl-bench", {"wandb": {"name": name, "dir": str(accelerator.project_dir)}}
    else:  # TensorBoard: a folder per run under project_dir
        project, kwargs = name, {}
    accelerator.init_trackers(project, flat_config(config), kwargs)
    try:
        yield
    finally:  # what end_training does for trackers, without ending the process group (more runs follow)
        for tracker in accelerator.trackers:
            tracker.finish()
        accelerator.trackers.clear()


def log_step(accelerator, step: int, loss: float, logs: dict) -> None:
    """The step's loss and the method's logs (0-d tensors), at a step that already reads the loss."""
    if accelerator.trackers:
        accelerator.log({"train/loss": loss, **{f"train/{k}": float(v) for k, v in logs.items()}}, step=step)


def log_validation(accelerator, val: dict) -> None:
    """A validation point: CIoU, AUC and the method's diagnostics (numbers only)."""
    if accelerator.trackers:
        accelerator.log({f"val/{k}": v for k, v in val.items() if k != "step" and isinstance(v, (int, float))},
                        step=val["step"])


def progress_line(name: str, step: int, steps: int, start: int, elapsed: float, val: dict) -> str:
    """One line per validation point when tqdm is off (output not a terminal): run, step/total, val CIoU,
    elapsed and ETA (from this session's pace)."""
    eta = elapsed / max(step - start, 1) * (steps - step)
    clock = lambda s: str(timedelta(seconds=round(s)))  # noqa: E731
    return (f"{name}: step {step}/{steps}, val CIoU {val['ciou']:.2f}, elapsed {clock(elapsed)}, "
            f"ETA {clock(eta)}")
