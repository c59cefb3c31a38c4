"""What changes a run's numbers is part of its identity (docs/design.md §5): device type, mixed precision and the
process count enter the config hash, except at the reference setting (one CPU process, fp32), which every committed
run was made at and whose hashes therefore stay valid."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import torch

import run_all
from benchmark import metadata
from benchmark.runner import compute_identity, resolved_config
from benchmark.suites import load_suite


def _accelerator(device="cpu", precision="no", processes=1):
    return SimpleNamespace(device=torch.device(device), mixed_precision=precision, num_processes=processes)


class _Domains:
    """The runner's DomainCache over the smoke domains, with stand-in negative pairs."""

    def __init__(self, domains):
        self.domains = domains

    def __call__(self, name):
        return self.domains[name]

    def negatives(self, name):
        return SimpleNamespace(digest=f"pairs-of-{name}")


def _config(suite, label, accelerator, smoke_domains):
    entry = next(e for e in suite.methods if e.label == label)
    return resolved_config(suite, entry, "flickr", ["flickr"], 0, _Domains(smoke_domains),
                           compute_identity(accelerator))


def test_precision_device_and_processes_change_the_hash(smoke_suite, smoke_domains):
    ref = _config(smoke_suite, "supervised", _accelerator(), smoke_domains)
    assert "compute" not in ref  # the reference setting: the hash of every run recorded before this field
    hashes = {metadata.config_hash(ref)}
    for acc in (_accelerator(precision="bf16"), _accelerator("cuda"), _accelerator("cuda", "bf16"),
                _accelerator(processes=2)):
        config = _config(smoke_suite, "supervised", acc, smoke_domains)
        assert config["compute"] == compute_identity(acc)
        hashes.add(metadata.config_hash(config))
    assert len(hashes) == 5
    # a floor computes nothing with the model: its identity ignores how it would have been computed
    assert _config(smoke_suite, "center", _accelerator("cuda", "bf16", 4), smoke_domains) == \
        _config(smoke_suite, "center", _accelerator(), smoke_domains)


def test_a_model_role_is_in_the_identity_of_its_methods_only(smoke_suite, smoke_domains):
    """The run's `model` holds the specs of its method's roles: another B changes XPL's runs, not supervised's."""
    b = {"audio": {"type": "wave_cnn1d", "filters": 8, "width": 16, "depth": 2}}
    other = dataclasses.replace(smoke_suite, model_spec={**smoke_suite.model_spec, "roles": {"b": b}})
    for label, roles in (("supervised", ["a"]), ("xpl", ["a", "b"])):
        before, after = (_config(s, label, _accelerator(), smoke_domains) for s in (smoke_suite, other))
        assert list(before["model"]) == roles and (before == after) == (label == "supervised")


def test_a_pretrained_file_shared_by_two_roles_is_named_by_content_in_both(smoke_suite, smoke_domains, tmp_path):
    """XPL's roles share the base visual spec: its weights path leaves the hash of both, and only the path."""
    from benchmark.runner import run_hash
    from benchmark.suites import backbone_specs, with_weights

    kind = smoke_suite.model_spec["visual"]["type"]
    hashes = set()
    for name in ("one", "two"):
        (tmp_path / name).write_bytes(b"the same weights")
        config = _config(with_weights(smoke_suite, {kind: str(tmp_path / name)}), "xpl", _accelerator(), smoke_domains)
        assert sum(p.get("weights") == str((tmp_path / name).resolve()) for p in backbone_specs(config["model"])) == 2
        hashes.add(run_hash(config))
    assert len(hashes) == 1
    (tmp_path / "two").write_bytes(b"other weights")
    assert run_hash(_config(with_weights(smoke_suite, {kind: str(tmp_path / "two")}), "xpl", _accelerator(),
                            smoke_domains)) not in hashes


def test_committed_runs_keep_their_hash():
    """A committed bench run's recorded config is what resolved_config gives today at the reference setting."""
    runs = sorted(Path("results").glob("table1/runs/bench/train-flickr/supervised/seed*/run.json"))
    if not runs:
        return  # a checkout without committed results has nothing to keep
    suite = load_suite("table1", "bench")
    record = json.loads(runs[0].read_text())
    entry = next(e for e in suite.methods if e.label == "supervised")
    entry = dataclasses.replace(entry, overrides={**entry.overrides, "lr": record["lr_selection"]["chosen"]})
    domains = {}

    def domain(name):  # the split hashes only: no store is built for this check
        if name not in domains:
            domains[name] = SimpleNamespace(hashes=record["config"]["split_sha256"][name])
        return domains[name]

    config = resolved_config(suite, entry, "flickr", record["config"]["tests"], record["seed"], domain,
                             compute_identity(_accelerator()))
    assert metadata.config_hash(config) == record["config_hash"]


def test_fp16_on_a_cpu_is_refused(tmp_path, capsys):
    if torch.cuda.is_available():
        return
    code = run_all.main(["--suite", "table1", "--profile", "smoke", "--seeds", "0", "--methods", "center",
                         "--mixed-precision", "fp16", "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == "error: --mixed-precision fp16 needs a GPU; on a CPU use no (or bf16)"
    assert not any(tmp_path.rglob("metrics.json"))


def test_bf16_on_a_gpu_without_it_is_refused(tmp_path, capsys, monkeypatch):
    """A precision the device lacks is refused before anything runs, never recorded in a run's identity."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla V100")
    code = run_all.main(["--suite", "table1", "--profile", "smoke", "--seeds", "0", "--methods", "center",
                         "--mixed-precision", "bf16", "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == ("error: --mixed-precision bf16: Tesla V100 does not support bf16; "
                                         "use fp16 or no")
    assert not any(tmp_path.rglob("metrics.json"))


def test_loader_workers_reach_the_runner_and_stay_out_of_the_identity(smoke_suite, smoke_domains, monkeypatch,
                                                                      tmp_path):
    """A profile's loader threads apply on a GPU only (a CPU's cores train), --loader-workers on either; how many
    threads fetch the batches is not what a run computes, so its identity does not record it."""
    seen = []
    monkeypatch.setattr(run_all, "load_suite", lambda *a, **k: dataclasses.replace(load_suite(*a, **k),
                                                                                  loader_workers=4))
    monkeypatch.setattr(run_all, "run_suite", lambda suite, *a, **k: seen.append(suite.loader_workers))
    monkeypatch.setattr("benchmark.leaderboard.write_leaderboard", lambda *a: "leaderboard.md")
    args = ["--suite", "table1", "--profile", "smoke", "--cpu", "--results-dir", str(tmp_path)]
    assert run_all.main(args) == 0 and run_all.main(args + ["--loader-workers", "3"]) == 0
    assert seen == [1, 3]
    four = dataclasses.replace(smoke_suite, loader_workers=4)
    assert _config(four, "xpl", _accelerator(), smoke_domains) == \
        _config(smoke_suite, "xpl", _accelerator(), smoke_domains)


def test_the_runner_builds_the_method_its_config_hash_describes(smoke_domains):
    """The method is built from the run's resolved config, not resolved a second time: same config object as the
    suite's overrides give, for every row of every suite."""
    import methods
    from benchmark.runner import build_method
    from benchmark.suites import list_suites, method_overrides
    from methods.base import load_method_config

    for name in list_suites():
        suite = load_suite(name, "smoke")
        for entry in suite.methods:
            config = _config(suite, entry.label, _accelerator(), smoke_domains)
            cls = methods.get_method(entry.name)
            expected = load_method_config(cls, method_overrides(suite, entry))
            assert build_method(config).config == expected, (name, entry.label)


def test_an_evaluations_subset_runs_whole_trainings_with_their_identities(smoke_domains):
    """--evaluations keeps every evaluation of a chosen one's training domain: each run keeps the tests, and so
    the config hash, that the whole suite gives it (a subset never retrains a finished run as 'changed')."""
    whole, part = load_suite("table1", "smoke"), load_suite("table1", "smoke", only_evaluations=["cross"])
    assert [ev.name for ev in part.evaluations] == ["vggss", "cross"]
    assert part.trainings() == {"vggss": whole.trainings()["vggss"]}
    assert all(c.evaluation != "flickr" and c.relative_to != "flickr" for c in part.claims)


def test_weights_identity_ignores_only_what_a_run_is_tested_on(smoke_domains):
    """table1's Flickr-like training and the negatives suite's are the same training (weights) but different runs."""
    from benchmark.runner import training_identity, weights_identity

    domains = _Domains(smoke_domains)
    configs = {}
    for name in ("table1", "negatives"):
        suite = load_suite(name, "smoke")
        entry = next(e for e in suite.methods if e.label == "supervised")
        configs[name] = resolved_config(suite, entry, "flickr", suite.trainings()["flickr"], 0, domains,
                                        compute_identity(_accelerator()))
    assert "negatives" not in configs["table1"] and configs["negatives"]["negatives"] == {"flickr": "pairs-of-flickr"}
    assert training_identity(configs["table1"]) != training_identity(configs["negatives"])
    assert weights_identity(configs["table1"]) == weights_identity(configs["negatives"])
    other_seed = dict(configs["negatives"], seed=1)
    assert weights_identity(other_seed) != weights_identity(configs["table1"])


def test_rerun_names_the_settings_that_differ_from_the_recorded_run():
    """Float kernels differ between CPU kinds: a committed run trained on an Intel Xeon and rerun with the same
    code on an AMD EPYC gave another validation curve from step 100 on (docs/design.md §5), so a rerun says so."""
    from benchmark import metadata
    from benchmark.rerun import setting_notes

    here = {"hardware": metadata.hardware(), "versions": metadata.versions()}  # what run.json records here
    assert setting_notes(here) == []
    assert setting_notes({}) == []  # older records: nothing to compare
    other = {**here, "hardware": {**here["hardware"], "cpu": "Some Other CPU"}}
    assert setting_notes(other) == [f"note: trained with cpu Some Other CPU, rerun with {here['hardware']['cpu']}: "
                                    "the numbers need not repeat bit for bit"]
