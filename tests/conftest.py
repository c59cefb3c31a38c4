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

    return {d: load_synthetic_domain("smoke", d, smoke_suite.data_cfg) for d in ("flickr", "vggss")}


@pytest.fixture()
def tiny_batch(smoke_domains):
    data = smoke_domains["flickr"]
    return data.table.get(data.rows["labeled"][:8])


def make_method(name: str, suite, overrides: dict | None = None):
    import methods
    from benchmark.suites import MethodEntry, method_overrides
    from methods.base import load_method_config

    cls = methods.get_method(name)
    cfg = load_method_config(cls, {**method_overrides(suite, MethodEntry(name, name)), **(overrides or {})})
    return cls(cfg, suite.model_spec)


@pytest.fixture()
def accelerator():
    from accelerate import Accelerator

    return Accelerator(cpu=True)


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
