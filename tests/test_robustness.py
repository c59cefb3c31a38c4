"""Robustness: SIGKILL a suite at random points and resume to the same numbers; bad inputs end in a clear
error with nothing half-written; the same seed twice gives the same metrics."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import run_all

REPO = Path(__file__).resolve().parents[1]
# XPL carries the most state across a resume (two models, banks, curriculum); supervised is the plain case.
ARGS = ["--suite", "table1", "--profile", "smoke", "--methods", "supervised,xpl", "--seeds", "0"]


def _launch(results: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.Popen([sys.executable, "run_all.py", *ARGS, "--results-dir", str(results)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finished(results: Path) -> dict:
    """Everything a finished run reports, minus timings and provenance that differ between invocations (and the
    digest of run.json, which holds them)."""
    out = {}
    for m in sorted(results.glob("table1/runs/smoke/*/*/seed*/metrics.json")):
        run = json.loads((m.parent / "run.json").read_text())
        metrics = json.loads(m.read_text())
        metrics["files"].pop("run.json")
        out[str(m.parent.relative_to(results))] = {
            "metrics": metrics, "per_sample": (m.parent / "per_sample.jsonl").read_text(),
            "val_history": run["val_history"], "best_val_step": run["best_val_step"]}
    return out


def _assert_nothing_half_written(results: Path):
    for path in results.rglob("*"):
        if not path.is_file() or ".tmp" in path.name or ".tmp" in str(path.parent):
            continue  # a temporary of an interrupted atomic write: never read as a result
        if path.suffix == ".json":
            json.loads(path.read_text())  # parses in full
        elif path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                json.loads(line)
        if path.name == "metrics.json":  # written last: everything else of the run is there
            assert {"run.json", "per_sample.jsonl"} <= {p.name for p in path.parent.iterdir()}, path


def test_sigkill_at_random_points_then_resume_equals_uninterrupted(tmp_path):
    t0 = time.perf_counter()
    base = _launch(tmp_path / "uninterrupted")
    assert base.wait(timeout=240) == 0, base.stdout.read()
    duration = time.perf_counter() - t0
    expected = _finished(tmp_path / "uninterrupted")
    assert len(expected) == 4  # 2 methods x 2 training domains

    killed = tmp_path / "killed"
    rng = np.random.default_rng(0)
    kills = 0
    for delay in rng.uniform(0.35, 0.95, size=4) * duration:  # past start-up, inside the run
        proc = _launch(killed)
        time.sleep(delay)
        if proc.poll() is not None:  # finished before the kill (all remaining runs were short)
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        _assert_nothing_half_written(killed)
    final = _launch(killed)
    log = final.communicate(timeout=240)[0]
    assert final.returncode == 0, log
    assert kills >= 1
    _assert_nothing_half_written(killed)
    assert _finished(killed) == expected
    assert (killed / "table1" / "leaderboard.smoke.md").exists()


def test_same_seed_twice_gives_identical_metrics(tmp_path):
    for name in ("a", "b"):
        assert run_all.main([*ARGS[:5], "supervised", *ARGS[6:], "--results-dir", str(tmp_path / name)]) == 0
    a, b = _finished(tmp_path / "a"), _finished(tmp_path / "b")
    assert a and a == b


def test_nan_loss_stops_with_a_clear_error_and_keeps_finished_runs(tmp_path, monkeypatch, capsys):
    import torch

    from methods.supervised import SupervisedOnly

    results = tmp_path / "r"
    assert run_all.main([*ARGS[:5], "center", *ARGS[6:], "--results-dir", str(results)]) == 0
    monkeypatch.setattr(SupervisedOnly, "training_step", lambda self, lb, ulb, state: (torch.tensor(float("nan")), {}))
    code = run_all.main([*ARGS[:5], "center,supervised", *ARGS[6:], "--results-dir", str(results)])
    err = capsys.readouterr().err
    assert code == 1 and "NonFiniteLoss" in err and "supervised" in err and "step 0" in err
    assert not list(results.glob("table1/runs/smoke/*/supervised/seed0/metrics.json"))  # nothing claims success
    assert len(list(results.glob("table1/runs/smoke/*/center/seed0/metrics.json"))) == 2  # nothing lost


def test_truncated_cache_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from benchmark.data.store import SampleTable, StoreError
    from benchmark.suites import load_suite

    monkeypatch.setenv("AVSL_BENCH_CACHE", str(tmp_path / "cache"))
    from benchmark.data.domains import load_synthetic_domain

    data = load_synthetic_domain("smoke", "flickr", load_suite("table1", "smoke").data_cfg)
    store = data.table.path
    arrow = sorted((store / "data").glob("*.arrow"))[0]
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    with pytest.raises(StoreError, match=str(store)):
        SampleTable(store)
    code = run_all.main([*ARGS[:5], "center", *ARGS[6:], "--results-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1 and "StoreError" in err and "delete the folder to rebuild" in err
    (store / "info.json").unlink()  # an interrupted build has no info.json
    with pytest.raises(StoreError, match="not a complete sample store"):
        SampleTable(store)


@pytest.mark.parametrize("override, message", [("{betaa: 0.3}", "unknown key(s) ['betaa']"),
                                                ("{beta: fast}", "'fast'")])
def test_bad_method_override_in_a_suite_is_refused_before_training(tmp_path, monkeypatch, capsys, override, message):
    import benchmark.suites as suites

    (tmp_path / "bad.yaml").write_text("suite: bad\nversion: 1\n"
                                       f"methods: [{{name: xpl, as: x, overrides: {override}}}]\n"
                                       "evaluations: [{name: flickr, train: flickr, test: flickr}]\n")
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    assert run_all.main(["--suite", "bad", "--profile", "smoke", "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and message in err and not (tmp_path / "r").exists()  # nothing trained or written
