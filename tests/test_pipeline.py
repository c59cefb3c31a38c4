"""The prefetching loader (benchmark.trainer.BatchLoader) and the deferred NaN check (docs/design.md §4): the same
batches, losses, weights, curriculum and maps as the serial path, bit for bit; errors name their step; no thread
is left behind."""
from __future__ import annotations

import re
import threading

import pytest

from benchmark.suites import Budget
from benchmark.trainer import BatchFetchError, NonFiniteLoss, train
from tests.conftest import SMOKE_OVERRIDES, assert_same_training, interrupt_at, make_method, smoke_method

# 10 steps: XPL warms up for 4, then (a small first admission: 2-step curriculum epochs) re-selects its pool
# at steps 4, 6, ...: steps planned ahead and steps planned when they run
XPL = {**SMOKE_OVERRIDES["xpl"], "ramp_r0": 0.1}
BUDGET = Budget(steps=10, global_batch_size=8, eval_every=5, ckpt_every=5, eval_batch_size=16)


def _loader_threads() -> list:
    return [t for t in threading.enumerate() if t.name.startswith("avsl-batches")]


def _recorded(method):
    """`method` whose training_step records each step's rows and loss."""
    seen, original = [], method.training_step

    def step(lb, ulb, state):
        loss, logs = original(lb, ulb, state)
        seen.append((state.step, [b["index"].tolist() if b is not None else None for b in (lb, ulb)], loss.item()))
        return loss, logs
    method.training_step = step
    return method, seen


def _train(method, data, accelerator, ckpt, **kw):
    return train(method, data, budget=BUDGET, seed=0, accelerator=accelerator, ckpt_dir=ckpt,
                 run_meta={"config_hash": "h"}, log=lambda *a: None, **kw)


@pytest.mark.parametrize("name", ["supervised", "xpl", "ezvsl"])
def test_prefetching_equals_the_serial_loop(name, smoke_suite, smoke_domains, accelerator, tmp_path):
    """1 loader thread (1 step ahead) and 2 (2 steps ahead, fetched concurrently) against the serial path."""
    data = smoke_domains["flickr"]
    runs = {}
    for workers in (0, 1, 2):  # 0: the serial path (plan and fetch in the step), the reference
        m, seen = _recorded(make_method(name, smoke_suite, XPL) if name == "xpl" else smoke_method(name, smoke_suite))
        res = _train(m, data, accelerator, tmp_path / str(workers), loader_workers=workers)
        runs[workers] = (m, seen, res)
    ref, ref_seen, ref_res = runs[0]
    for new, new_seen, new_res in (runs[1], runs[2]):
        assert new_seen == ref_seen  # rows of every step, in order, and every loss to the last bit
        assert_same_training(ref, ref_res, new, new_res, data, accelerator)
        if name == "xpl":  # the curriculum re-selected after warm-up: those steps were planned when they ran.
            # Read at the last validation: after training the method holds the best checkpoint's curriculum,
            # and which validation wins moves with float noise (e.g. the thread count).
            assert new_res.history[-1]["curriculum_epoch"] >= 1 and any(ulb for _, (_, ulb), _ in new_seen)
    assert not _loader_threads()


def test_a_failed_fetch_names_its_step_and_leaves_no_thread(smoke_suite, smoke_domains, accelerator, tmp_path,
                                                            monkeypatch):
    data = smoke_domains["flickr"]
    table, calls = data.table, []
    get = type(table).get

    def failing(self, rows, half=False):
        calls.append(threading.current_thread().name)
        if len(calls) == 4:  # the fetch of step 3, on the loader's thread
            raise OSError("disk went away")
        return get(self, rows, half)
    monkeypatch.setattr(type(table), "get", failing)
    with pytest.raises(BatchFetchError, match="batches of step 3 failed: OSError: disk went away"):
        _train(make_method("supervised", smoke_suite), data, accelerator, tmp_path)
    assert calls[3].startswith("avsl-batches") and not _loader_threads()


def test_keyboard_interrupt_leaves_no_thread(smoke_suite, smoke_domains, accelerator, tmp_path):
    m = interrupt_at(make_method("supervised", smoke_suite), 2)
    with pytest.raises(KeyboardInterrupt):
        _train(m, smoke_domains["flickr"], accelerator, tmp_path, loader_workers=2)
    assert not _loader_threads()


def test_nan_is_reported_at_the_next_check_naming_the_first_bad_step(smoke_suite, smoke_domains, accelerator,
                                                                     tmp_path):
    """No host sync per step: the first non-finite loss is kept on the device and read at the next check (a
    logging, validation or checkpoint step): here step 2's loss, found after step 4 (validation at 5 steps), before
    any validation or checkpoint could keep the weights it spoiled."""
    m = make_method("supervised", smoke_suite)
    original, ran = m.training_step, []

    def nan_from_step_2(lb, ulb, state):
        loss, logs = original(lb, ulb, state)
        ran.append(state.step)
        return (loss * float("nan") if state.step >= 2 else loss), logs
    m.training_step = nan_from_step_2
    with pytest.raises(NonFiniteLoss, match=r"loss is nan at step 2 \(seed 0\); found at the check after step 4"):
        _train(m, smoke_domains["flickr"], accelerator, tmp_path)
    assert ran == [0, 1, 2, 3, 4] and not (tmp_path / "step_00000005").exists()
    assert not _loader_threads()


def test_perf_pipeline_runs_at_small_sizes(capsys, tmp_path, monkeypatch):
    from benchmark import perf

    monkeypatch.setenv("AVSL_BENCH_CACHE", str(tmp_path))
    assert perf.main(["--pipeline", "--image-size", "32", "--batch", "8", "--pipeline-steps", "4",
                      "--compute-ms", "5", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    for line in ("pipeline samples/s per worker:", "cores to feed 5,000 samples/s"):
        assert line in out, line
    # the issue's `overlap: <step time / max(data time, compute time)>`, one line per loop, labelled
    overlaps = re.findall(r"^overlap: (\d+\.\d\d) \(([^;]+);", out, re.MULTILINE)
    assert [label for _, label in overlaps] == [
        f"{loop}{case}" for case in ("", ", compute = data")
        for loop in ("serial loop", "prefetch, 1 worker", "prefetch, 2 workers")]
    assert all(float(ratio) > 0 for ratio, _ in overlaps)
