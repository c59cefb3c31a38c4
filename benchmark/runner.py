"""Run every (method, training domain, seed) of a suite; skip runs already finished.

Each run writes per_sample.jsonl, previews.json (maps of a few test samples, for figures),
run.json and best_model.pt (best-on-val weights, not committed), and metrics.json last
(atomically): a run counts as done only when its metrics.json exists with the same config hash.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

import methods
from benchmark import metadata
from benchmark.data.domains import DomainData, load_synthetic_domain, restrict_classes
from benchmark.io import read_json, write_json_atomic, write_text_atomic
from benchmark.suites import MethodEntry, Suite, method_overrides
from benchmark.trainer import evaluate_tests, train
from methods.base import load_method_config
from methods.common.localizer import unwrap


def run_dir(results_dir: Path, suite: Suite, train_domain: str, label: str, seed: int) -> Path:
    return results_dir / suite.name / "runs" / suite.profile / f"train-{train_domain.replace(':', '-')}" / label / f"seed{seed}"


class DomainCache:
    def __init__(self, suite: Suite, accelerator, data_root: Path | None = None):
        self.suite, self.accelerator, self.data_root, self._cache = suite, accelerator, data_root, {}

    def _load(self, name: str) -> DomainData:
        if self.suite.dataset == "synthetic":  # built on first use, one process at a time
            return load_synthetic_domain(self.suite.profile, name, self.suite.data_cfg,
                                         self.accelerator.main_process_first)
        # real data: Flickr-SoundNet ("flickr") / VGG-SS ("vggss"), prepared beforehand by benchmark.prepare
        from benchmark.data.domains import load_real_domain
        from benchmark.data.real_store import real_store_path

        cfg = self.suite.data_cfg
        store = real_store_path(name, cfg.get("subset"), cfg["image_size"], root=self.data_root)
        return load_real_domain(name, store, subset=cfg.get("subset"))

    def __call__(self, domain: str) -> DomainData:
        """`name` or `name:heard` / `name:unheard` (every split restricted to those sounding classes)."""
        if domain not in self._cache:
            base, _, classes = domain.partition(":")
            if base not in self._cache:
                self._cache[base] = self._load(base)
            self._cache[domain] = restrict_classes(self._cache[base], classes) if classes else self._cache[base]
        return self._cache[domain]


def resolved_config(suite: Suite, entry: MethodEntry, train_domain: str, tests: list[str], seed: int,
                    domains: DomainCache) -> dict:
    cls = methods.get_method(entry.name)
    cfg = load_method_config(cls, method_overrides(suite, entry))
    splits = {d: domains(d).hashes for d in sorted({train_domain, *tests})}
    return {
        "suite": suite.name, "suite_version": suite.version, "profile": suite.profile, "dataset": suite.dataset,
        "method": entry.name, "label": entry.label, "method_config": dataclasses.asdict(cfg),
        "model": suite.model_spec if cls.trainable else None, "data": suite.data_cfg,
        "budget": suite.budget if cls.trainable else None, "seed": seed,
        "train": train_domain, "tests": tests, "split_sha256": splits,
    }


def pretrained_status(method) -> tuple[dict | None, str]:
    """Which backbones loaded local pretrained weights: the records for run.json, and a one-word status
    for the leaderboard (n/a: backbones that never take weights, e.g. the light CPU ones)."""
    from methods.common.weights import pretrained_records

    if not method.trainable:
        return None, "n/a"
    records = {k: pretrained_records(unwrap(m)) for k, m in method.models.items()}
    slots = [r for per in records.values() for r in per.values()]
    if not slots:
        return None, "n/a"
    return records, "all" if all(slots) else "none" if not any(slots) else "partial"


def run_one(suite: Suite, entry: MethodEntry, train_domain: str, tests: list[str], seed: int,
            results_dir: Path, accelerator, domains: DomainCache, log=print) -> dict:
    out = run_dir(results_dir, suite, train_domain, entry.label, seed)
    config = resolved_config(suite, entry, train_domain, tests, seed, domains)
    chash = metadata.config_hash(config)
    done = out / "metrics.json"
    if done.exists():
        previous = read_json(done)
        if previous.get("config_hash") == chash:
            log(f"skip {entry.label} train={train_domain} seed={seed}: finished ({done})")
            return previous
        log(f"rerun {entry.label} train={train_domain} seed={seed}: config changed since {done}")
        if accelerator.is_main_process:  # the old run's checkpoints belong to the old config
            shutil.rmtree(out / "ckpt", ignore_errors=True)
        accelerator.wait_for_everyone()

    cls = methods.get_method(entry.name)
    method = cls(load_method_config(cls, method_overrides(suite, entry)), suite.model_spec)
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    result = train(method, domains(train_domain), budget=suite.budget, seed=seed, accelerator=accelerator,
                   ckpt_dir=out / "ckpt", run_meta={"config_hash": chash}, log=log)
    t_test = time.perf_counter()
    numbers, per_sample, previews = evaluate_tests(method, {d: domains(d) for d in tests}, accelerator,
                                                   suite.budget.get("eval_batch_size", 256))
    wall = time.perf_counter() - t0
    weights, weights_status = pretrained_status(method)
    metrics = {
        "config_hash": chash, "method": entry.name, "label": entry.label, "seed": seed, "train": train_domain,
        "pretrained": weights_status,
        "primary_variant": method.report_variants()[0], "variants": method.report_variants(),
        "best_val": result.best_val, "best_step": result.best_step, "tests": numbers,
    }
    if accelerator.is_main_process:
        write_text_atomic(out / "per_sample.jsonl", "".join(json.dumps(r) + "\n" for r in per_sample))
        write_json_atomic(out / "previews.json", previews)
        if method.trainable:  # best-on-val weights, for `python -m benchmark.localize` (not committed)
            tmp = out / "best_model.pt.tmp"
            torch.save({k: unwrap(m).state_dict() for k, m in method.models.items()}, tmp)
            os.replace(tmp, out / "best_model.pt")
        write_json_atomic(out / "run.json", {
            "command": sys.argv, "config": config, "config_hash": chash, "seed": seed,
            "git": metadata.git_info(), "versions": metadata.versions(), "hardware": metadata.hardware(),
            "distributed": {"type": str(accelerator.distributed_type), "num_processes": accelerator.num_processes,
                            "mixed_precision": accelerator.mixed_precision},
            "pretrained_weights": weights,  # per model: {backbone: {path, sha256, n_tensors} or None}
            "reported_variant": method.report_variants()[0],
            "started": started.isoformat(), "wall_seconds": round(wall, 2),
            "seconds": {**{k: round(v, 2) for k, v in result.timings.items()},
                        "test": round(time.perf_counter() - t_test, 2)},
            "peak_memory_mb": metadata.peak_memory_mb(accelerator.device),
            "resumed_from_step": result.resumed_from, "best_val_step": result.best_step,
            "val_history": result.history,
        })
        write_json_atomic(done, metrics)  # last: marks the run finished
        shutil.rmtree(out / "ckpt", ignore_errors=True)  # resume state is no longer needed
    accelerator.wait_for_everyone()
    accelerator.free_memory()
    primary = numbers[tests[0]][metrics["primary_variant"]]
    log(f"done {entry.label} train={train_domain} seed={seed}: {tests[0]} CIoU {primary['ciou']:.2f} "
        f"AUC {primary['auc']:.2f} (best val step {result.best_step}, {wall:.1f}s)")
    return metrics


def run_suite(suite: Suite, results_dir: Path, accelerator, log=print, data_root: Path | None = None) -> DomainCache:
    """Run (or skip) every run of the suite; returns the loaded domains for figures."""
    domains = DomainCache(suite, accelerator, data_root)
    for train_domain, tests in suite.trainings().items():
        for entry in suite.methods:
            for seed in suite.seeds:
                run_one(suite, entry, train_domain, tests, seed, results_dir, accelerator, domains, log)
    return domains
