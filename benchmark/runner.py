"""Run every (method, training domain, seed) of a suite; skip runs already finished.

A run's files are written by benchmark/run_outputs.py, metrics.json last: a run counts as done only when its
metrics.json exists with the same config hash, and is used only if its files verify (benchmark/verify.py).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from statistics import fmean

import torch
from filelock import Timeout

import methods
from benchmark import metadata
from benchmark.checkpoint import WEIGHTS_RECORD
from benchmark.data.domains import DomainData, load_domain, restrict_classes, with_label_budget
from benchmark.data.negative_pairs import NegativePairs, negative_pairs
from benchmark.evaluate import evaluate_tests
from benchmark.io import lock_for, read_json
from benchmark.run_outputs import copy_run, update_run_record, write_run
from benchmark.suites import (MethodEntry, Suite, backbone_specs, budget_of, method_overrides, role_specs,
                              training_domain)
from benchmark.tracking import run_name, tracked
from benchmark.trainer import PROGRESS, TrainResult, prepare_training, train
from benchmark.verify import DamagedRun, finished_runs, load_run
from methods.base import build_config, load_method_config
from methods.common.localizer import unwrap
from methods.common.weights import pretrained_records
from methods.config import given


def run_dir(results_dir: Path, suite: Suite, train_domain: str, label: str, seed: int) -> Path:
    train = train_domain.replace(':', '-').replace('@', '-labels-')  # a label budget: train-flickr-labels-5pct
    return results_dir / suite.name / "runs" / suite.profile / f"train-{train}" / label / f"seed{seed}"


class DomainCache:
    def __init__(self, suite: Suite, accelerator, data_root: Path | None = None):
        self.suite, self.accelerator, self.data_root, self._cache = suite, accelerator, data_root, {}

    def _load(self, name: str) -> DomainData:
        # synthetic stores are built on first use, one process at a time; real ones by benchmark.prepare
        return load_domain(self.suite.data, self.suite.profile, name, self.data_root,
                           self.accelerator.main_process_first)

    def negatives(self, domain: str) -> NegativePairs:
        """The negative pairs of test domain `domain` (benchmark/data/negative_pairs.py)."""
        key = ("negatives", domain)
        if key not in self._cache:
            self._cache[key] = negative_pairs(self(domain), self.suite.data)
        return self._cache[key]

    def __call__(self, domain: str, seed: int | None = None) -> DomainData:
        """`name` or `name:heard` / `name:unheard` (every split restricted to those sounding classes), or
        `name@<budget>` at a training seed (the labeled subset of that budget and seed: with_label_budget)."""
        base, _, budget = domain.partition("@")
        if budget:
            if (domain, seed) not in self._cache:
                self._cache[domain, seed] = with_label_budget(self(base), self.suite.data, self.suite.profile,
                                                              budget, seed)
            return self._cache[domain, seed]
        if domain not in self._cache:
            base, _, classes = domain.partition(":")
            if base not in self._cache:
                self._cache[base] = self._load(base)
            self._cache[domain] = restrict_classes(self._cache[base], classes) if classes else self._cache[base]
        return self._cache[domain]


# How a run is computed, where that changes its numbers: device type, mixed precision, process count. The
# reference setting (one CPU process, fp32) is left out of the identity, so runs recorded before this field
# existed, all at that setting, keep their config hash (docs/design.md §5).
REFERENCE_COMPUTE = {"device": "cpu", "mixed_precision": "no", "processes": 1}


def channels_last(suite: Suite, accelerator) -> bool:
    """The profile's channels_last switch, on a GPU only (on this CPU it did not help; README "Performance")."""
    return bool(suite.channels_last) and accelerator.device.type == "cuda"


def compute_identity(accelerator, suite: Suite | None = None) -> dict:
    """Where and how a run computes; channels_last (other kernels) only when set, so other hashes stay."""
    extra = {"channels_last": True} if suite is not None and channels_last(suite, accelerator) else {}
    return {"device": accelerator.device.type, "mixed_precision": str(accelerator.mixed_precision),
            "processes": int(accelerator.num_processes), **extra}


def resolved_config(suite: Suite, entry: MethodEntry, train_domain: str, tests: list[str], seed: int,
                    domains: DomainCache, compute: dict | None = None) -> dict:
    cls = methods.get_method(entry.name)
    cfg = load_method_config(cls, method_overrides(suite, entry))
    splits = {d: seeded(domains, d, seed).hashes for d in sorted({train_domain, *tests})}
    extra = {"compute": compute} if cls.trainable and compute and compute != REFERENCE_COMPUTE else {}
    negative_tests = [t for t in suite.negative_tests() if t in tests]
    if negative_tests:  # only where asked: the identities of runs without negatives stay as they were
        extra["negatives"] = {t: domains.negatives(t).digest for t in negative_tests}
    return {
        "suite": suite.name, "suite_version": suite.version, "profile": suite.profile, "dataset": suite.dataset,
        "method": entry.name, "label": entry.label,
        # the fields its file and overrides set: a field added later with a default that keeps the old behaviour
        # leaves the identity of runs made before it unchanged (methods/config.py `given`)
        "method_config": given(cfg),
        # only the method's own roles: a change to one method's model is not a change of the others' runs;
        # data and budget: the keys the profile and suite set, as identities have always recorded them
        "model": role_specs(suite.model_spec, cls.model_roles) if cls.trainable else None, "data": given(suite.data),
        "budget": given(budget_of(suite, entry.name)) if cls.trainable else None, "seed": seed,
        "train": train_domain, "tests": tests, "split_sha256": splits, **extra,
    }


def seeded(domains, domain: str, seed: int) -> DomainData:
    """The domain a run of `seed` uses: a label-budget domain (`name@<budget>`) depends on the seed, others not
    (so callers that key domains by name alone keep working)."""
    return domains(domain, seed) if "@" in domain else domains(domain)


def build_method(config: dict):
    """The run's method from its resolved config (`resolved_config`): the config is resolved once per run, and
    the method is the one the config hash describes (its method config and its roles' model specs)."""
    cls = methods.get_method(config["method"])
    return cls(build_config(cls.Config, config["method_config"], f"method_config of {config['label']}"),
               config["model"] or {})


def pretrained_status(method) -> tuple[dict | None, str]:
    """Which backbones loaded local pretrained weights: the records for run.json, and a one-word status
    for the leaderboard (n/a: backbones that never take weights, e.g. the light CPU ones)."""
    if not method.trainable:
        return None, "n/a"
    records = {k: pretrained_records(unwrap(m)) for k, m in method.models.items()}
    slots = [r for per in records.values() for r in per.values()]
    if not slots:
        return None, "n/a"
    return records, "all" if all(slots) else "none" if not any(slots) else "partial"


SUITE_FIELDS = ("suite", "suite_version", "label")  # what a run's training identity leaves out
EVALUATION_FIELDS = ("tests", "negatives")  # what its weights' identity leaves out as well


def by_content(config: dict) -> dict:
    """The config with each local pretrained file named by its content only (`weights_sha256`), not by where
    it lies: the path is recorded to load it, but the same file elsewhere is the same run (docs/design.md §5)."""
    if not any(p.get("weights_sha256") for p in backbone_specs(config.get("model") or {})):
        return config
    config = copy.deepcopy(config)
    for part in backbone_specs(config["model"]):
        if part.get("weights_sha256"):  # pop: roles can share one spec (XPL's A and B, the same visual backbone)
            part.pop("weights", None)
    return config


def run_hash(config: dict) -> str:
    """A run's config_hash: what decides that a finished run is this run (docs/design.md §5)."""
    return metadata.config_hash(by_content(config))


def training_identity(config: dict) -> str:
    """Hash of what determines a run's numbers: its config without the suite's name and version and the row's
    label. Two runs with the same identity are the same computation (docs/design.md §5)."""
    return run_hash({k: v for k, v in config.items() if k not in SUITE_FIELDS})


def restricted(config: dict, tests: tuple[str, ...]) -> dict:
    """`config` as a run tested on `tests` only (a subset of its own): each test is scored on its own (the
    shuffled-audio pairing drawn per test from a fixed seed, docs/protocol.md §2), so the numbers of the others do not depend on which are left out."""
    kept = {**config, "tests": list(tests),
            "split_sha256": {k: v for k, v in config["split_sha256"].items() if k == config["train"] or k in tests}}
    negatives = {k: v for k, v in (config.get("negatives") or {}).items() if k in tests}
    if negatives:
        kept["negatives"] = negatives
    else:
        kept.pop("negatives", None)
    return kept


def _test_subsets(config: dict) -> list[tuple[str, ...]]:
    """The non-empty proper subsets of a run's tests, in its order (a run has one to three tests)."""
    tests = config.get("tests") or []
    return [sub for n in range(1, len(tests)) for sub in itertools.combinations(tests, n)]


def weights_identity(config: dict) -> str:
    """Hash of what determines a run's trained weights: its training identity without what it is tested on
    (only the training domain's split lists kept). Two runs with the same weights identity train the same
    models; one can be scored on other tests from the other's best_model.pt (docs/design.md §5)."""
    kept = {k: v for k, v in config.items() if k not in SUITE_FIELDS + EVALUATION_FIELDS}
    kept["split_sha256"] = {config["train"]: config["split_sha256"][config["train"]]}
    return run_hash(kept)


class RunIndex:
    """Finished runs of one profile under a results folder, by training identity (tuning runs included)."""

    def __init__(self, results_dir: Path, profile: str):
        self.results_dir, self.profile, self.found = results_dir, profile, None

    def _scan(self) -> dict[str, Path]:
        found = {}
        for folder in finished_runs(self.results_dir, profile=self.profile):
            try:
                metrics, run = load_run(folder)
            except DamagedRun:
                continue  # a run that does not verify is never a source
            if "config" in run and metrics.get("config_hash") == run.get("config_hash"):
                found.setdefault(training_identity(run["config"]), folder)
                found.setdefault("trained:" + weights_identity(run["config"]), folder)  # its validation scores
                for tests in _test_subsets(run["config"]):  # its numbers on part of its tests
                    found.setdefault("subset:" + training_identity(restricted(run["config"], tests)), folder)
                if (folder / "best_model.pt").exists():  # its weights can be scored on other tests
                    found.setdefault("weights:" + weights_identity(run["config"]), folder)
        return found

    def _get(self, key: str) -> Path | None:
        if self.found is None or key not in self.found:  # rescan on a miss: another process may have finished it
            self.found = self._scan()
        return self.found.get(key)

    def find(self, config: dict) -> Path | None:
        return self._get(training_identity(config))

    def find_superset(self, config: dict) -> Path | None:
        """A finished run of the same training tested on more sets than this run (e.g. table1's VGGSS-like
        training, also tested cross-dataset): this run's numbers are its numbers on this run's tests."""
        return self._get("subset:" + training_identity(config))

    def find_weights(self, config: dict) -> Path | None:
        """A finished run with best_model.pt whose training was this run's (weights_identity)."""
        return self._get("weights:" + weights_identity(config))

    def find_trained(self, config: dict) -> Path | None:
        """A finished run whose training was this run's (weights_identity), with or without its weights on disk:
        its validation scores are this run's (they are part of the training, not of the tests)."""
        return self._get("trained:" + weights_identity(config))

    def add(self, config: dict, folder: Path) -> None:
        if self.found is not None:
            self.found.setdefault(training_identity(config), folder)
            self.found.setdefault("trained:" + weights_identity(config), folder)
            if (folder / "best_model.pt").exists():
                self.found.setdefault("weights:" + weights_identity(config), folder)


def run_one(suite: Suite, entry: MethodEntry, train_domain: str, tests: list[str], seed: int,
            results_dir: Path, accelerator, domains: DomainCache, log=print, out: Path | None = None,
            lr_selection: dict | None = None, index: RunIndex | None = None, validation_only: bool = False) -> dict:
    """Run (or skip, copy, score) one run. `validation_only` (a grid run, kept for its validation score): where it
    would train, a finished run of the same training elsewhere gives its score instead, and nothing is written."""
    out = out or run_dir(results_dir, suite, train_domain, entry.label, seed)
    config = resolved_config(suite, entry, train_domain, tests, seed, domains, compute_identity(accelerator, suite))
    chash = run_hash(config)
    index = index or RunIndex(results_dir, suite.profile)
    if validation_only and not (out / "metrics.json").exists():
        found = _validated_elsewhere(config, index)
        if found is not None:
            log(f"lr {config['method_config']['lr']:g} for {entry.label} train={train_domain}: validation of the "
                f"same training in {found['validated_in']}")
            return found
    with run_lock(out, accelerator, log, f"{entry.label} train={train_domain} seed={seed}"):
        return _run_locked(suite, entry, train_domain, tests, seed, results_dir, accelerator, domains, log, out,
                           lr_selection, index, config, chash)


@contextlib.contextmanager
def run_lock(out: Path, accelerator, log, what: str):
    """One writer per run folder: the main process holds `<run folder>.lock` while the run is checked, trained
    and written; another invocation on the same results folder waits for it (saying so), then finds it
    finished and skips it. Under the lock, temporaries left in the folder by a killed writer are removed."""
    lock = None
    if accelerator.is_main_process:
        out.parent.mkdir(parents=True, exist_ok=True)
        lock = lock_for(out.with_name(out.name + ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log(f"wait {what}: another process is running it (lock {lock.lock_file})")
            lock.acquire()
        if out.is_dir():  # nobody else writes here now: any temporary is a killed write's
            for tmp in out.iterdir():
                if ".tmp" in tmp.name and tmp.is_file():
                    tmp.unlink(missing_ok=True)
    try:
        accelerator.wait_for_everyone()
        PROGRESS.update(run=f"{what} ({out})", step=None)
        yield
        PROGRESS.update(run=None, step=None)  # kept on an exception: the interrupted run's message names it
    finally:
        if lock is not None:
            lock.release()


def _run_locked(suite: Suite, entry: MethodEntry, train_domain: str, tests: list[str], seed: int, results_dir: Path,
                accelerator, domains: DomainCache, log, out: Path, lr_selection: dict | None,
                index: RunIndex, config: dict, chash: str) -> dict:
    done = out / "metrics.json"
    if done.exists():
        try:
            previous = read_json(done)
        except ValueError as err:
            raise DamagedRun(str(err)) from None
        if previous.get("config_hash") == chash:
            previous, record = load_run(out)  # a finished run is used only if its files verify
            log(f"skip {entry.label} train={train_domain} seed={seed}: finished ({done})")
            if lr_selection is not None and record.get("lr_selection") != lr_selection:
                # the grid gained tuning seeds and chose the same rate: the record says how it is chosen now
                if accelerator.is_main_process:
                    previous = update_run_record(out, {"lr_selection": lr_selection})
                accelerator.wait_for_everyone()
                log(f"  its lr_selection record updated: {lr_selection}")
            return previous
        log(f"rerun {entry.label} train={train_domain} seed={seed}: config changed since {done}")
        if accelerator.is_main_process:  # the old run's checkpoints belong to the old config
            shutil.rmtree(out / "ckpt", ignore_errors=True)
        accelerator.wait_for_everyone()
    source, tests_of_source = index.find(config), None
    if source is None:
        source, tests_of_source = index.find_superset(config), config["tests"]
    if source is not None and source != out:  # the same computation was already run: reuse it
        metrics = None
        if accelerator.is_main_process:
            metrics = copy_run(source, out, {"config": config, "config_hash": chash, "lr_selection": lr_selection,
                                             "copied_from": str(source)},
                               {"config_hash": chash, "label": config["label"]}, only_tests=tests_of_source)
        accelerator.wait_for_everyone()
        log(f"reuse {entry.label} train={train_domain} seed={seed}: same run as {source}"
            + (f" (its tests {', '.join(tests_of_source)} only)" if tests_of_source else ""))
        index.add(config, out)
        return metrics or read_json(done)

    method = build_method(config)
    budget = budget_of(suite, entry.name)
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    name = run_name(out, results_dir)
    trained = index.find_weights(config) if method.trainable else None
    loaded = None
    if trained is not None and trained != out:  # the same training was run for other tests: score its weights
        loaded = load_trained(method, trained, config, seeded(domains, train_domain, seed), budget,
                              seed, accelerator)
        log(f"weights of {entry.label} train={train_domain} seed={seed}: " +
            (f"from {trained} (scoring only)" if loaded else f"{trained}/best_model.pt is not of this training"))
    if loaded is not None:
        result, provenance = loaded
    else:
        with tracked(accelerator, name, {**config, "config_hash": chash}):  # trackers: only with --log-with
            result = train(method, seeded(domains, train_domain, seed), budget=budget, seed=seed,
                           accelerator=accelerator, ckpt_dir=out / "ckpt",
                           run_meta={"config_hash": chash, "config": config}, log=log, name=name,
                           loader_workers=suite.loader_workers, channels_last=channels_last(suite, accelerator))
        provenance = {"unlabeled_shortfall": _runs_of(result.shortfall)}
    t_test = time.perf_counter()
    negative_sets = {t: domains.negatives(t) for t in config.get("negatives", {})}
    numbers, per_sample, previews = evaluate_tests(method, {d: domains(d) for d in tests}, accelerator,
                                                   budget.eval_batch_size, negative_sets)
    wall = time.perf_counter() - t0
    weights, weights_status = pretrained_status(method)
    metrics = {
        "config_hash": chash, "method": entry.name, "label": entry.label, "seed": seed, "train": train_domain,
        "pretrained": weights_status,
        "primary_variant": method.report_variants()[0], "variants": method.report_variants(),
        "best_val": result.best_val, "best_step": result.best_step, "tests": numbers,
    }
    if accelerator.is_main_process:
        run = {
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
            "lr_selection": lr_selection,  # how the learning rate was chosen (tune_lr), or null
            # steps whose unlabeled share could not be filled: [first, last, unlabeled drawn, planned]; for weights
            # scored from another run, also where they were trained (`weights_from`: val history etc. are its)
            **provenance,
        }
        # best-on-val weights for `python -m benchmark.localize` (not committed); metrics.json last
        metrics = write_run(out, per_sample, previews, run, metrics, method if method.trainable else None, config)
        shutil.rmtree(out / "ckpt", ignore_errors=True)  # resume state is no longer needed
    accelerator.wait_for_everyone()
    accelerator.free_memory()
    index.add(config, out)
    primary = numbers[tests[0]][metrics["primary_variant"]]
    log(f"done {entry.label} train={train_domain} seed={seed}: {tests[0]} CIoU {primary['ciou']:.2f} "
        f"AUC {primary['auc']:.2f} (best val step {result.best_step}, {wall:.1f}s)")
    return metrics


def load_trained(method, source: Path, config: dict, data: DomainData, budget, seed: int,
                 accelerator) -> tuple[TrainResult, dict] | None:
    """Set `method` up as its training leaves it (prepare_training), with the best-on-val weights of the
    finished run `source` (found by its verified run.json); returns that training's TrainResult and the run.json
    fields that say where it comes from (its unlabeled shortfall, `weights_from`). None (the run then trains) when best_model.pt cannot be read, its
    run record (files written before it existed have none) names another method, seed or training domain, or
    its weights do not fit the models."""
    try:
        state = torch.load(source / "best_model.pt", map_location="cpu", weights_only=True)
    except Exception:  # unreadable or truncated: not a source
        return None
    record = state.pop(WEIGHTS_RECORD, None) if isinstance(state, dict) else None
    if not isinstance(state, dict) or (isinstance(record, dict) and any(
            record.get(k) != config[k] for k in ("method", "seed", "train"))):
        return None
    models = prepare_training(method, data, budget, seed, accelerator)[0]
    try:
        for k, m in models.items():
            unwrap(m).load_state_dict(state[k])
    except (KeyError, RuntimeError):
        return None
    metrics, run = load_run(source)
    return (TrainResult(best_step=metrics["best_step"], best_val=metrics["best_val"], history=run["val_history"],
                        resumed_from=run.get("resumed_from_step")),
            {"unlabeled_shortfall": run.get("unlabeled_shortfall", []),
             "weights_from": {"run": str(source), "config_hash": run["config_hash"]}})


def _runs_of(steps: list) -> list[list[int]]:
    """(step, got, planned) per step -> [first, last, got, planned] per run of consecutive equal steps."""
    out: list[list[int]] = []
    for step, got, planned in steps:
        if out and out[-1][1] == step - 1 and out[-1][2:] == [got, planned]:
            out[-1][1] = step
        else:
            out.append([step, step, got, planned])
    return out


def tune_lr(suite: Suite, entry: MethodEntry, train_domain: str, tests: list[str], results_dir: Path, accelerator,
            domains: DomainCache, log=print, index: RunIndex | None = None) -> tuple[MethodEntry, dict | None]:
    """The learning rate of a row (docs/protocol.md §3): each rate of the grid at the tuning seeds, best on validation
    averaged over them (CIoU, then AUC; the first on a tie), or the rate tuned for `lr_of`; the main run reuses
    the chosen run's files."""
    cls = methods.get_method(entry.name)
    if not suite.lr_grid or not cls.trainable or "lr" in entry.overrides or \
            "lr" not in getattr(cls.Config, "__dataclass_fields__", {}):
        return entry, None
    if entry.lr_of is not None:  # a control or ablation row: the rate tuned for the row it varies
        source, selection = tune_lr(suite, suite.lr_sources[entry.lr_of], train_domain, tests, results_dir,
                                    accelerator, domains, log, index)
        if "lr" not in source.overrides:
            return entry, None
        selection = {**(selection or {}), "chosen": source.overrides["lr"], "from_label": entry.lr_of}
        return dataclasses.replace(entry, overrides={**entry.overrides, "lr": source.overrides["lr"]}), selection
    scores, per_seed, elsewhere = {}, {}, {}
    for lr in suite.lr_grid:
        trial = dataclasses.replace(entry, overrides={**entry.overrides, "lr": lr})
        for seed in suite.tune_seeds:
            base = run_dir(results_dir, suite, train_domain, entry.label, seed).parent / "lr-grid"
            m = run_one(suite, trial, train_domain, tests, seed, results_dir, accelerator, domains, log,
                        out=base / f"lr{lr:g}" / f"seed{seed}", index=index, validation_only=True)
            if "validated_in" in m:  # the same training was run for other tests: its validation decides
                elsewhere[f"{lr:g}" if len(suite.tune_seeds) == 1 else f"{lr:g}/seed{seed}"] = m["validated_in"]
            per_seed.setdefault(lr, {})[seed] = (m["best_val"]["ciou"], m["best_val"]["auc"])
        # the mean over the tuning seeds: one seed that survived a rate does not choose it for all
        scores[lr] = tuple(fmean(v[i] for v in per_seed[lr].values()) for i in range(2))
    chosen = max(suite.lr_grid, key=lambda lr: scores[lr])  # max keeps the first of equal keys
    # one tuning seed: the record committed runs have; several: which, and each seed's score
    seeds = {"tune_seed": suite.tune_seeds[0]} if len(suite.tune_seeds) == 1 else {"tune_seeds": list(suite.tune_seeds)}
    selection = {"grid": list(suite.lr_grid), **seeds, "chosen": chosen,
                 "val_ciou_auc": {f"{lr:g}": list(v) for lr, v in scores.items()}}
    if len(suite.tune_seeds) > 1:
        selection["val_ciou_auc_per_seed"] = {f"{lr:g}": {str(s): list(v) for s, v in by_seed.items()}
                                              for lr, by_seed in per_seed.items()}
    if elsewhere:
        selection["val_from"] = elsewhere
    log(f"lr for {entry.label} train={train_domain}: {chosen:g} (val CIoU/AUC {scores})")
    return dataclasses.replace(entry, overrides={**entry.overrides, "lr": chosen}), selection


def _validated_elsewhere(config: dict, index: RunIndex) -> dict | None:
    """{"best_val", "validated_in"} of a finished run (any suite, e.g. table1's for negatives) whose training is
    this run's, when this run would otherwise train (no run to copy, no weights on disk to score), else None. A
    grid run is only there for its validation score, which the other run has: the grid need not train again
    because that run's weights are not on this machine."""
    folder = index.find_trained(config)
    if folder is None or index.find(config) is not None or index.find_weights(config) is not None:
        return None  # nothing to reuse, or the run copies or scores it cheaply
    return {"best_val": load_run(folder)[0]["best_val"], "validated_in": str(folder)}


def run_suite(suite: Suite, results_dir: Path, accelerator, log=print, data_root: Path | None = None) -> DomainCache:
    """Run (or skip, or reuse) every run of the suite; returns the loaded domains for figures."""
    domains = DomainCache(suite, accelerator, data_root)
    index = RunIndex(results_dir, suite.profile)
    planned = set()
    for suite_train, tests in suite.trainings().items():
        for entry in suite.methods:
            train_domain = training_domain(entry.name, suite_train)  # a budget-free method: once, without it
            if (entry.label, train_domain) in planned:
                continue
            planned.add((entry.label, train_domain))
            tuned, selection = tune_lr(suite, entry, train_domain, tests, results_dir, accelerator, domains, log, index)
            for seed in suite.seeds:
                run_one(suite, tuned, train_domain, tests, seed, results_dir, accelerator, domains, log,
                        lr_selection=selection, index=index)
    return domains
