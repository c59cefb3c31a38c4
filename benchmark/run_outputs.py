"""Every file a run writes, through one atomic writer (docs/design.md §5).

Committed runs are verified against these exact bytes (benchmark/verify.py), so the formats here must not change.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import torch

from benchmark.checkpoint import WEIGHTS_RECORD
from benchmark.io import json_text, open_atomic, read_json
from benchmark.verify import file_digests
from methods.common.localizer import unwrap

COPIED = ("per_sample.jsonl", "previews.json", "best_model.pt")  # taken over as they are by a reused run
_PER_TEST = ("per_sample.jsonl", "previews.json")  # what a run tested on fewer sets keeps in part


def _write(path: Path, content: str | Callable) -> None:
    """The one writer: text, or a function that fills a binary file, goes to a temporary beside `path` that is
    renamed onto it only when complete (benchmark/io.py); a killed write leaves no partial file."""
    with open_atomic(path, "wb") as f:
        if callable(content):
            content(f)
        else:
            f.write(content.encode())


def write_run(out: Path, per_sample: list[dict], previews: dict, run: dict, metrics: dict,
              method=None, config: dict | None = None) -> dict:
    """Write a finished run; `method` (trainable) adds best_model.pt with its models' weights and `config`, the
    run record `benchmark.localize` reads. Returns metrics.json's content."""
    _write(out / "per_sample.jsonl", "".join(json.dumps(r) + "\n" for r in per_sample))
    _write(out / "previews.json", json_text(previews))
    if method is not None:
        weights = {k: unwrap(m).state_dict() for k, m in method.models.items()}
        weights[WEIGHTS_RECORD] = json.loads(json.dumps(config, default=str))
        _write(out / "best_model.pt", lambda f: torch.save(weights, f))
    _write(out / "run.json", json_text(run))
    return write_metrics(out, metrics)


def write_metrics(out: Path, metrics: dict, files: dict | None = None) -> dict:
    """metrics.json, with `files` (default: the digests of the run's files as they are now): written last."""
    metrics = {**metrics, "files": files or file_digests(out)}
    _write(out / "metrics.json", json_text(metrics))
    return metrics


def copy_run(src: Path, dst: Path, run_fields: dict, metrics_fields: dict,
             only_tests: list[str] | None = None) -> dict:
    """The finished run in `src` as the run `dst`: files copied, run.json and metrics.json updated with
    `run_fields` and `metrics_fields` (this run's config, hash and label), metrics.json last. `only_tests`: the
    run `dst` is tested on these of `src`'s tests only, and its files keep their numbers only."""
    for name in COPIED:
        if (src / name).exists() and not (only_tests and name in _PER_TEST):
            with open(src / name, "rb") as source:
                _write(dst / name, lambda f: shutil.copyfileobj(source, f))
    metrics = read_json(src / "metrics.json")
    if only_tests:
        lines = (src / "per_sample.jsonl").read_text().splitlines(keepends=True)
        _write(dst / "per_sample.jsonl", "".join(x for x in lines if json.loads(x)["test"] in only_tests))
        _write(dst / "previews.json", json_text({t: p for t, p in read_json(src / "previews.json").items()
                                                 if t in only_tests}))
        metrics["tests"] = {t: metrics["tests"][t] for t in only_tests}
    _write(dst / "run.json", json_text({**read_json(src / "run.json"), **run_fields}))
    return write_metrics(dst, {**metrics, **metrics_fields})


def update_run_record(out: Path, fields: dict) -> dict:
    """A finished run's run.json with `fields` replaced (a record such as how its learning rate was chosen, not
    its identity or numbers), then metrics.json with the new digests; returns metrics.json's content."""
    _write(out / "run.json", json_text({**read_json(out / "run.json"), **fields}))
    return write_metrics(out, {k: v for k, v in read_json(out / "metrics.json").items() if k != "files"})
