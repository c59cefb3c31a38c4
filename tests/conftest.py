"""Shared fixtures: a per-session cache for the smoke stores, tiny batches."""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory):
    """Stores are built once per test session into a temporary cache (unless CI set one)."""
    if "AVSL_BENCH_CACHE" not in os.environ:
        os.environ["AVSL_BENCH_CACHE"] = str(tmp_path_factory.mktemp("avsl-cache"))
    yield


@pytest.fixture(scope="session")
def smoke_suite():
    from benchmark.suites import load_suite

    return load_suite("table1", "smoke")


@pytest.fixture(scope="session")
def smoke_domains(smoke_suite):
    from benchmark.data.domains import load_synthetic_domain

    return {d: load_synthetic_domain("smoke", d, smoke_suite.data) for d in ("flickr", "vggss")}


@pytest.fixture()
def tiny_batch(smoke_domains):
    data = smoke_domains["flickr"]
    return data.table.get(data.rows["labeled"][:8])


# XPL's curriculum admits no sample at smoke scale under its paper floor (ρ > 0.8): these let unlabeled rows in
SMOKE_OVERRIDES = {"xpl": {"rho_floor": -1.0, "ramp_r0": 0.5, "min_epoch_steps": 2}}


def smoke_method(name: str, suite):
    """`name` configured so that a few smoke-profile steps reach every stage (unlabeled rows included)."""
    return make_method(name, suite, SMOKE_OVERRIDES.get(name))


def make_method(name: str, suite, overrides: dict | None = None):
    from benchmark.suites import MethodEntry, new_method

    return new_method(suite, MethodEntry(name, name, dict(overrides or {})))


def interrupt_at(method, step: int, message: str = "simulated kill"):
    """`method`, whose training_step raises KeyboardInterrupt at `step` (a killed run, for resume tests)."""
    original = method.training_step

    def killed(lb, ulb, state):
        if state.step == step:
            raise KeyboardInterrupt(message)
        return original(lb, ulb, state)
    method.training_step = killed
    return method


def set_up(method, data, steps: int, global_batch: int = 8, seed: int = 0, accelerator=None):
    """`method` (models attached) set up as the trainer would for a run of `steps` on `data`; returns the RunInfo."""
    from accelerate import Accelerator

    from benchmark.suites import Budget
    from benchmark.trainer import run_info

    budget = Budget(steps=steps, global_batch_size=global_batch, eval_every=max(steps, 1), eval_batch_size=32)
    run = run_info(method, data, budget, seed, accelerator or Accelerator(cpu=True))
    method.setup(run)
    return run


@pytest.fixture()
def accelerator():
    from accelerate import Accelerator

    return Accelerator(cpu=True)


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def assert_same_training(ref, ref_result, new, new_result, data, accelerator) -> None:
    """Two trainings of one method ended identically: best step, validation history and unlabeled shortfall,
    every model's weights, the nested extra_state, and the test numbers on `data`."""
    from benchmark.evaluate import evaluate_tests

    assert_same_nested([new_result.best_step, new_result.history, new_result.shortfall],
                       [ref_result.best_step, ref_result.history, ref_result.shortfall], "result")
    for k in ref.models:
        assert same_state(ref.models[k].state_dict(), new.models[k].state_dict()), k
    assert_same_nested(new.extra_state(), ref.extra_state(), "extra_state")
    tests = {"flickr": data}
    assert evaluate_tests(ref, tests, accelerator, 16)[0] == evaluate_tests(new, tests, accelerator, 16)[0]


def assert_same_nested(a, b, where: str = "state") -> None:
    """a == b through nested dicts, lists and tuples: tensors by dtype, shape and value (NaN equal to NaN),
    floats with NaN equal to NaN, everything else by ==. The message names the first place that differs."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"
        for k in a:
            assert_same_nested(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_nested(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), f"{where}: {a.dtype} {a.shape} vs {b.dtype} {b.shape}"
        assert torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.isnan(), b.isnan())
                                     and torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0))), f"{where}: values differ"
    elif isinstance(a, float) and a != a:
        assert b != b, f"{where}: nan vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def write_run(folder, metrics: dict, run: dict | None = None) -> None:
    """A finished run that verifies (benchmark/verify.py) with the given metrics.json numbers: per_sample.jsonl
    holds 100 cIoU values per (test, variant) whose CIoU and AUC are the recorded ones (CIoU a whole percent,
    AUC a multiple of 0.05), run.json is `run` (default {}), metrics.json records both files' digests."""
    import json

    from benchmark.io import write_json_atomic, write_text_atomic
    from benchmark.verify import file_digests

    rows = []
    for test, per in metrics["tests"].items():
        for variant, numbers in per.items():
            rows += [{"test": test, "variant": variant, "sample_id": i, "ciou": c}
                     for i, c in enumerate(_cious_for(numbers["ciou"], numbers["auc"]))]
    write_text_atomic(folder / "per_sample.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    write_json_atomic(folder / "run.json", run or {})
    write_json_atomic(folder / "metrics.json", {**metrics, "files": file_digests(folder)})


def _cious_for(ciou: float, auc: float, n: int = 100) -> list[float]:
    """n cIoU values with CIoU = `ciou` and AUC = `auc`. A value in bin j ([0.05 j, 0.05 (j + 1)), j < 20) adds
    (5 j + 2.5) / n to the AUC, so the bins must sum to (auc - 2.5) n / 5; k = ciou n / 100 values lie at bin >= 10."""
    k, total = round(ciou * n / 100), round((auc - 2.5) * n / 5)
    bins = [10] * k + [0] * (n - k)
    left = total - 10 * k
    for i, cap in enumerate([19] * k + [9] * (n - k)):
        step = max(0, min(cap - bins[i], left))
        bins[i], left = bins[i] + step, left - step
    assert left == 0, f"no {n} cIoU values give CIoU {ciou} and AUC {auc}"
    return [round(0.05 * j + 0.025, 6) for j in bins]
