"""Every committed run is the run today's code would plan: the config it records is what `resolved_config`
resolves now for its suite, label, training domain and seed, and so is its hash. A refactor that changed
a run's identity would make the runner train it again (or silently reuse a run it no longer describes);
this catches it before any training (docs/design.md §5)."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark.data.label_lists import load_label_list
from benchmark.data.negative_pairs import synthetic_plan
from benchmark.data.splits import load_split
from benchmark.data.synthetic import SyntheticAdapter
from benchmark.rerun import recorded_entry
from benchmark.runner import resolved_config, run_hash
from benchmark.suites import load_suite, recorded_weights, with_weights

RESULTS = Path(__file__).resolve().parents[1] / "results"
RUNS = sorted(p.parent for p in RESULTS.glob("*/runs/*/**/metrics.json"))


class Recorded:
    """The runner's domains as a run recorded them (split hashes: checked against the lists below); negative
    pairs computed now from the committed test list, so a change to how they are made shows here."""

    def __init__(self, splits: dict, config: dict):
        self.splits, self.config = splits, config

    def __call__(self, domain, seed=None):
        return SimpleNamespace(hashes=self.splits[domain])

    def negatives(self, domain):
        data = self.config["data"]
        return SimpleNamespace(digest=_negatives_digest(data.get("splits", self.config["profile"]), domain,
                                                        self.splits[domain]["test"], data["clip_seconds"],
                                                        data["sample_rate"]))


# The same suite and pairs are rebuilt for hundreds of runs: once each (both are pure functions of their inputs).
_suite = functools.cache(load_suite)


@functools.cache
def _negatives_digest(lists: str, domain: str, test_hash: str, clip_seconds: float, sample_rate: int) -> str:
    ids = load_split("synthetic", lists, domain, "test")[0]
    return synthetic_plan(domain, ids, test_hash, clip_seconds, sample_rate)[1]


@pytest.mark.skipif(not RUNS, reason="no committed runs")
@pytest.mark.parametrize("folder", RUNS, ids=lambda p: str(p.relative_to(RESULTS)))
def test_committed_run_has_todays_identity(folder):
    run = json.loads((folder / "run.json").read_text())
    config = run["config"]
    suite = _suite(config["suite"], config["profile"])
    paths, digests = recorded_weights(config["model"])
    if paths:  # a run from local pretrained files (e.g. bench_pretrained): its identity names their content
        suite = with_weights(suite, paths, digests)
    stored_splits = config["split_sha256"]
    domains = Recorded(stored_splits, config)
    compute = config.get("compute")
    now = resolved_config(suite, recorded_entry(suite, config), config["train"], config["tests"], config["seed"], domains,
                          compute)
    assert now == config
    assert run_hash(now) == run["config_hash"]
    assert json.loads((folder / "metrics.json").read_text())["config_hash"] == run["config_hash"]


@pytest.mark.skipif(not RUNS, reason="no committed runs")
def test_committed_split_hashes_are_the_committed_lists():
    seen = {}
    for folder in RUNS:
        config = json.loads((folder / "run.json").read_text())["config"]
        if config["dataset"] != "synthetic":
            continue
        lists = config["data"].get("splits", config["profile"])
        for domain, hashes in config["split_sha256"].items():
            for split, digest in hashes.items():
                if split == "classes":
                    continue
                base = domain.partition(":")[0].partition("@")[0]
                if split == "labels":  # a label budget: "<budget>/seed<k>=<sha256>" of its labeled-subset list
                    (budget, seed), digest = digest.split("=")[0].split("/seed"), digest.split("=")[1]
                    where = SyntheticAdapter().labels_dir(None, lists, base)
                    assert digest == load_label_list(where, budget, int(seed))[1], (folder, domain)
                    continue
                key = (lists, base, split)
                if key not in seen:
                    seen[key] = load_split("synthetic", *key)[1]
                assert digest == seen[key], (folder, key)
