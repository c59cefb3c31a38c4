"""Robustness: SIGKILL a suite at random points and resume to the same numbers; bad inputs end in a clear
error with nothing half-written; the same seed twice gives the same metrics."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import run_all
from methods.config import given

REPO = Path(__file__).resolve().parents[1]
# XPL carries the most state across a resume (two models, banks, curriculum); supervised is the plain case. One
# training domain: the faults under test do not depend on which, and each invocation costs a Python start-up.
ARGS = ["--suite", "table1", "--profile", "smoke", "--methods", "supervised,xpl", "--seeds", "0", "--evaluations",
        "flickr"]


def _launch(results: Path, stderr=subprocess.STDOUT) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}
    # Ctrl-C's default action, as in a terminal: a pytest started as a background job (`cmd &`) has SIGINT ignored,
    # its children inherit that, and Python then installs no KeyboardInterrupt handler
    return subprocess.Popen([sys.executable, "run_all.py", *ARGS, "--results-dir", str(results)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=stderr, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The results folder of one plain invocation of ARGS."""
    results = tmp_path_factory.mktemp("uninterrupted")
    base = _launch(results)
    assert base.wait(timeout=240) == 0, base.stdout.read()
    return results


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


def _started(proc: subprocess.Popen) -> str:
    """Read the invocation's output up to its first line about a run (past the Python start-up); that line."""
    for line in proc.stdout:
        if "train" in line:
            return line
    return ""


def test_sigkill_at_random_points_then_resume_equals_uninterrupted(tmp_path, uninterrupted):
    expected = _finished(uninterrupted)
    assert len(expected) == 2  # 2 methods

    killed = tmp_path / "killed"
    rng = np.random.default_rng(0)
    kills = 0
    # after the first line about a run: inside training, checkpoints, result files or the leaderboard
    for delay in rng.uniform(0.0, 3.0, size=2):
        proc = _launch(killed)
        _started(proc)
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
    assert len(list(results.glob("table1/runs/smoke/*/center/seed0/metrics.json"))) == 1  # nothing lost


def test_truncated_cache_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from benchmark.data.store import SampleTable, StoreError
    from benchmark.suites import load_suite

    monkeypatch.setenv("AVSL_BENCH_CACHE", str(tmp_path / "cache"))
    from benchmark.data.domains import load_synthetic_domain

    data = load_synthetic_domain("smoke", "flickr", load_suite("table1", "smoke").data)
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


def test_two_invocations_on_one_results_folder_equal_one(tmp_path, uninterrupted):
    """One writer per run folder: the second invocation waits for a run the first holds, then skips it."""
    shared = tmp_path / "shared"
    procs = [_launch(shared), _launch(shared)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert "Traceback" not in "".join(logs)
    _assert_nothing_half_written(shared)
    assert _finished(shared) == _finished(uninterrupted)


def test_a_waiting_invocation_names_the_run_it_waits_for(tmp_path):
    """The run's lock held by another process: run_lock logs which run it waits on, then enters once it is free."""
    from types import SimpleNamespace

    from benchmark.runner import run_lock

    out = tmp_path / "runs" / "center" / "seed0"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from filelock import FileLock; "
                               "lock = FileLock(sys.argv[1]); lock.acquire(); print('held', flush=True); "
                               "time.sleep(1.0)", str(out.with_name("seed0.lock"))],
                              stdout=subprocess.PIPE, text=True)
    (tmp_path / "runs" / "center").mkdir(parents=True)
    assert holder.stdout.readline().strip() == "held"
    held = time.monotonic()
    logged = []
    accelerator = SimpleNamespace(is_main_process=True, wait_for_everyone=lambda: None)
    with run_lock(out, accelerator, logged.append, "center train=flickr seed=0"):
        assert time.monotonic() - held > 0.5  # entered only once the holder let go (it holds the lock for 1 s)
    holder.wait(timeout=30)
    assert logged == [f"wait center train=flickr seed=0: another process is running it "
                      f"(lock {out.with_name('seed0.lock')})"]


def _interrupt(proc: subprocess.Popen, sig: int, code: int, results: Path) -> None:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (out, err)
    assert "Traceback" not in err, err
    assert re.fullmatch(r"interrupted( at \S+ train=\S+ seed=\d+ \(\S+\)(, step \d+)?)?; "
                        r"rerun the same command to resume", err.strip().splitlines()[-1]), err
    _assert_nothing_half_written(results)


def test_ctrl_c_and_sigterm_end_in_one_line_and_resume(tmp_path, uninterrupted):
    """Ctrl-C while the second run trains (the first is finished: the handlers are in place), then SIGTERM while
    the resumed invocation trains it again; a third invocation finishes with the uninterrupted numbers."""
    results = tmp_path / "r"
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        proc = _launch(results, stderr=subprocess.PIPE)
        next(line for line in proc.stdout if "xpl/seed0: step" in line)  # inside xpl's training loop
        _interrupt(proc, sig, code, results)
    final = _launch(results)
    assert final.wait(timeout=240) == 0, final.stdout.read()
    assert _finished(results) == _finished(uninterrupted)


def test_interrupt_names_the_run_and_step(tmp_path, monkeypatch, capsys):
    from benchmark import trainer

    real = trainer.run_step

    def interrupted_at_step_2(method, ctx, samplers, models, optims, state, *rest, **options):
        if state.step == 2:
            raise KeyboardInterrupt
        return real(method, ctx, samplers, models, optims, state, *rest, **options)

    monkeypatch.setattr(trainer, "run_step", interrupted_at_step_2)
    assert run_all.main([*ARGS[:5], "supervised", *ARGS[6:], "--results-dir", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    run = tmp_path / "table1/runs/smoke/train-flickr/supervised/seed0"
    assert err[-1] == f"interrupted at supervised train=flickr seed=0 ({run}), step 2; " \
                      "rerun the same command to resume"
    assert not (run / "metrics.json").exists()


def test_no_lock_finalizer_runs_between_runs(tmp_path, monkeypatch):
    """A Ctrl-C that lands in a finalizer is swallowed by CPython: the run and cache locks live as long as the
    process, so none is finalized between two runs."""
    import gc

    from filelock import BaseFileLock

    finalized = []
    monkeypatch.setattr(BaseFileLock, "__del__", lambda self, *args: finalized.append(self.lock_file))
    assert run_all.main([*ARGS[:5], "center,random", *ARGS[6:], "--results-dir", str(tmp_path)]) == 0
    gc.collect()
    assert len(list(tmp_path.glob("table1/runs/smoke/*/*/seed0.lock"))) == 2 and finalized == []


def test_result_files_have_the_umask_permissions(uninterrupted):
    mask = os.umask(0o022)
    os.umask(mask)
    files = [p for p in uninterrupted.rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert any(p.name == "leaderboard.smoke.csv" for p in files) and any(p.suffix == ".png" for p in files)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {p.name: oct(0o666 & ~mask) for p in files}


def test_atomic_write_mode_and_named_errors(tmp_path):
    import resource

    from benchmark.io import write_text_atomic

    old = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    try:
        with pytest.raises(OSError) as err:
            write_text_atomic(tmp_path / "big.txt", "x" * 5000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert err.value.errno == 27 and str(tmp_path / "big.txt") in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # the temporary is gone


def test_stale_temporaries_are_removed_at_start(tmp_path):
    from benchmark.io import remove_stale_temporaries, tmp_tag

    dead = subprocess.Popen(["true"])
    dead.wait()
    mine, gone = tmp_tag(), tmp_tag().replace(str(os.getpid()), str(dead.pid))
    folder = tmp_path / "table1"
    for name in (f"flickr-abc{gone}", f"flickr-abc.tmp{dead.pid}", f"flickr-abc{mine}",
                 f"flickr-abc.tmp{dead.pid}-otherhost"):
        (folder / name).mkdir(parents=True)
    (folder / f".leaderboard.smoke.csv{gone}.x1y2.tmp").write_text("")
    (folder / "figures").mkdir()
    (folder / "figures" / f".stability-flickr.smoke.png{gone}.ab.tmp").write_text("")
    assert len(remove_stale_temporaries(folder)) == 3  # the dead process's, of this host (or an older name)
    assert sorted(p.name for p in folder.iterdir()) == sorted(["figures", f"flickr-abc{mine}",
                                                               f"flickr-abc.tmp{dead.pid}-otherhost"])
    assert run_all.main([*ARGS[:5], "center", *ARGS[6:], "--results-dir", str(tmp_path)]) == 0
    assert not [p for p in (folder / "figures").iterdir() if ".tmp" in p.name]  # removed at start


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("seeds", ["-1", str(2**32), "0,x"])
def test_bad_seeds_are_refused_up_front(tmp_path, capsys, validate, seeds):
    argv = [*ARGS[:5], "center", "--seeds", seeds, "--results-dir", str(tmp_path / "r")]
    with pytest.raises(SystemExit) as end:
        run_all.main(argv + (["--validate"] if validate else []))
    assert end.value.code == 2 and "--seeds" in capsys.readouterr().err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("validate", [True, False])
def test_unwritable_results_folder_is_refused_up_front(tmp_path, capsys, validate):
    (tmp_path / "file").write_text("")
    argv = [*ARGS[:5], "center", *ARGS[6:], "--results-dir", str(tmp_path / "file" / "r")]
    assert run_all.main(argv + (["--validate"] if validate else [])) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --results-dir") and "is not a folder" in err
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "table1").write_text("")  # the suite's folder is a file: found before training too
    argv[-1] = str(tmp_path / "r")
    assert run_all.main(argv + (["--validate"] if validate else [])) == 2
    assert f"{tmp_path / 'r' / 'table1'} is not a folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes into read-only folders
        (tmp_path / "ro").mkdir(mode=0o555)
        argv[-1] = str(tmp_path / "ro")
        assert run_all.main(argv + (["--validate"] if validate else [])) == 2
        assert "not writable" in capsys.readouterr().err


def test_killed_cache_build_is_removed_at_the_next_load(tmp_path, monkeypatch):
    from benchmark.data.domains import load_synthetic_domain
    from benchmark.data.store import synthetic_store_path
    from benchmark.io import tmp_tag
    from benchmark.suites import load_suite

    dead = subprocess.Popen(["true"])
    dead.wait()
    monkeypatch.setenv("AVSL_BENCH_CACHE", str(tmp_path / "cache"))
    data = load_suite("table1", "smoke").data
    folder = synthetic_store_path("smoke", "flickr", given(data), [0]).parent
    stale = folder / f"flickr-0123456789ab{tmp_tag().replace(str(os.getpid()), str(dead.pid))}"
    (stale / "data").mkdir(parents=True)
    loaded = load_synthetic_domain("smoke", "flickr", data)
    assert not stale.exists() and loaded.table.path.parent == folder
    assert [p.name for p in folder.iterdir() if ".tmp" in p.name] == []
